"""When an alert rule holds on a live conversation: pure functions over what the floor reads
(the conversation's row and its operators' signals), no I/O.

Each check returns the findings of one rule on one conversation: a key (which criterion, which
line; empty for a continuing condition such as silence), a title and a detail. Whether a
finding becomes an alert (dedup, cooldown) is the service's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .choices import AlertKind

# What customers say when they want a person (a rule's own phrases replace these).
DEFAULT_HUMAN_PHRASES = [
    "speak to a human", "talk to a human", "speak to a person", "talk to a person",
    "real person", "speak to someone", "talk to someone", "speak to an agent",
    "talk to an agent", "representative", "operator", "supervisor", "manager",
]  # fmt: skip
NEGATIVE_AT = -0.05  # a line's score at or below this is negative (VADER's neutral band)
WINDOW_GRACE_MS = 2000  # the operator may judge a window a moment after it closes


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    detail: str = ""


def _normalised(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9']+", text.lower())) + " "


def asks_for_human(texts: dict[str, str], phrases: list[str]) -> list[Finding]:
    """Each customer line that contains one of ``phrases`` (whole words, any case)."""
    wanted = [(phrase, _normalised(phrase)) for phrase in phrases or DEFAULT_HUMAN_PHRASES]
    found = []
    for line_id, text in texts.items():
        said = _normalised(text)
        hit = next((phrase for phrase, norm in wanted if norm.strip() and norm in said), None)
        if hit:
            quote = text if len(text) <= 160 else text[:157] + "…"
            found.append(Finding(line_id, "Customer asks for a person", f"“{quote}”"))
    return found


def negative_streak(
    customer_lines: list[str], tones: dict[str, float], labels: dict[str, str], turns: int
) -> list[Finding]:
    """The customer's last ``turns`` judged lines are all negative."""
    judged = [line for line in customer_lines if line in tones]
    last = judged[-max(turns, 1) :]
    if len(last) < max(turns, 1):
        return []
    if all(tones[line] <= NEGATIVE_AT or labels.get(line) == "negative" for line in last):
        return [Finding("", "Customer upset", f"Negative on the last {len(last)} turns.")]
    return []


def silence(
    *, now: datetime, started_at: datetime | None, last_line_at: datetime | None, seconds: int
) -> list[Finding]:
    """Nobody has said anything for longer than ``seconds``."""
    since = last_line_at or started_at
    if since is None or seconds <= 0:
        return []
    quiet = (now - since).total_seconds()
    if quiet > seconds:
        return [Finding("", "Long silence", f"Nothing said for {int(quiet)} s.")]
    return []


def window_missed(
    *, now: datetime, started_at: datetime | None, windows: list[dict[str, Any]]
) -> list[Finding]:
    """Critical criteria whose time window closed while they were still unmet."""
    if started_at is None:
        return []
    elapsed_ms = (now - started_at).total_seconds() * 1000
    found = []
    for window in windows:
        if not window.get("critical"):
            continue
        closed = window["state"] == "Failed" or elapsed_ms > window["end_ms"] + WINDOW_GRACE_MS
        if closed:
            name = window.get("name") or window.get("key") or "A critical criterion"
            found.append(
                Finding(
                    str(window.get("key") or name)[:120],
                    "Critical step missed",
                    f"{name}: not done within {round(window['end_ms'] / 1000)} s.",
                )
            )
    return found


def findings(
    kind: str,
    *,
    threshold: int,
    phrases: list[str],
    now: datetime,
    row: Any,
    signals: Any,
) -> list[Finding]:
    """The findings of a rule of ``kind`` on one conversation (``row``: the conversations
    app's FloorRow; ``signals``: the intelligence app's FloorSignals)."""
    if kind == AlertKind.ASKS_FOR_HUMAN:
        return asks_for_human(row.customer_texts, phrases)
    if kind == AlertKind.NEGATIVE_STREAK:
        return negative_streak(row.customer_lines, signals.tones, signals.labels, threshold or 3)
    if kind == AlertKind.SILENCE:
        return silence(
            now=now, started_at=row.started_at, last_line_at=row.last_line_at,
            seconds=threshold or 20,
        )  # fmt: skip
    if kind == AlertKind.WINDOW_MISSED:
        return window_missed(now=now, started_at=row.started_at, windows=signals.windows)
    return []
