"""A typed reader of the Harper Valley demo calls (``data/harper-valley/conversations.jsonl``).

Plain Python, no ORM: ``load_demo`` imports these calls into the database and a call simulator
can replay them. Field meanings are in ``data/harper-valley/NOTICE.md``.

The synthetic ids derived here (call SID, caller phone number) are pure functions of the data,
so every consumer derives the same ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

DATA_DIR = Path(__file__).resolve().parent / "data" / "harper-valley"
CALLS_PATH = DATA_DIR / "conversations.jsonl"

SpeakerRole = Literal["agent", "caller"]


@dataclass(frozen=True)
class Emotion:
    """Softmax of the source's emotion model for one segment; the three values sum to 1."""

    negative: float
    neutral: float
    positive: float


@dataclass(frozen=True)
class DemoSegment:
    """One speech segment. ``text`` is the human transcript (may be ``""`` or a tag such as
    ``[noise]``), ``asr_text`` the machine transcript; ``start_ms`` counts from the call start."""

    index: int
    role: SpeakerRole
    text: str
    asr_text: str
    start_ms: int
    duration_ms: int
    emotion: Emotion
    dialog_acts: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoCall:
    """One recorded call between an agent and a caller, as in the source (times from 2020)."""

    sid: str
    session: str
    start_time_ms: int
    end_time_ms: int
    agent_name: str
    agent_speaker_id: int
    agent_survey: dict[str, str] | None
    caller_name: str
    caller_speaker_id: int
    caller_survey: dict[str, str] | None
    labels: dict[str, float]
    tasks: tuple[dict[str, Any], ...]
    segments: tuple[DemoSegment, ...]

    @property
    def started_at(self) -> datetime:
        return _from_ms(self.start_time_ms)

    @property
    def ended_at(self) -> datetime:
        return _from_ms(self.end_time_ms)

    @property
    def task_type(self) -> str:
        return str(self.tasks[0].get("task_type", "")) if self.tasks else ""

    @property
    def caller_rating(self) -> int | None:
        """The caller's post-call ``partner_rating`` (0-10), or None when they did not give one."""
        value = (self.caller_survey or {}).get("partner_rating")
        try:
            return int(value) if value not in (None, "") else None
        except ValueError:
            return None

    @property
    def call_sid(self) -> str:
        """A stable, synthetic Twilio-style call SID: ``CA`` and 32 hex digits."""
        return "CA" + _digest(f"harper-valley:call:{self.sid}")[:32]

    @property
    def caller_address(self) -> str:
        """A stable fake E.164 number for the caller's name, in the fictional 555-01XX range.

        Keyed by name, not by call, so a name that calls twice has one number.
        """
        n = int(_digest(f"harper-valley:caller:{self.caller_name}"), 16)
        area_code = 201 + n % 799  # 201..999: a valid-looking first digit
        return f"+1{area_code:03d}55501{(n // 799) % 100:02d}"


def read_calls(path: Path = CALLS_PATH) -> list[DemoCall]:
    """All calls in ``path``, in file order."""
    return list(iter_calls(path))


def iter_calls(path: Path = CALLS_PATH) -> Iterator[DemoCall]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield _call(json.loads(line))
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}:{number}: not a demo call record ({error!r})") from error


def _call(record: dict[str, Any]) -> DemoCall:
    agent, caller = record["agent"], record["caller"]
    return DemoCall(
        sid=record["sid"],
        session=record["session"],
        start_time_ms=int(record["start_time_ms"]),
        end_time_ms=int(record["end_time_ms"]),
        agent_name=agent["name"],
        agent_speaker_id=int(agent["speaker_id"]),
        agent_survey=agent.get("survey"),
        caller_name=caller["name"],
        caller_speaker_id=int(caller["speaker_id"]),
        caller_survey=caller.get("survey"),
        labels=dict(record.get("labels") or {}),
        tasks=tuple(record.get("tasks") or ()),
        segments=tuple(_segment(segment) for segment in record["segments"]),
    )


def _segment(record: dict[str, Any]) -> DemoSegment:
    role = record["role"]
    if role not in ("agent", "caller"):
        raise ValueError(f"unknown segment role {role!r}")
    emotion = record["emotion"]
    return DemoSegment(
        index=int(record["index"]),
        role=role,
        text=record["text"],
        asr_text=record["asr_text"],
        start_ms=int(record["start_ms"]),
        duration_ms=int(record["duration_ms"]),
        emotion=Emotion(
            negative=float(emotion["negative"]),
            neutral=float(emotion["neutral"]),
            positive=float(emotion["positive"]),
        ),
        dialog_acts=tuple(record.get("dialog_acts") or ()),
    )


def _from_ms(value: int) -> datetime:
    # Integer arithmetic: a float timestamp would lose the milliseconds' exactness.
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
