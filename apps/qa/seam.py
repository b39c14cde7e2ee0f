"""The handoff seam of a conversation an AI agent handed to a human: where it happened and
what can be checked about it automatically. Pure: plain data in, plain data out.

The seam is where the human agent's first turn follows the AI agent's last one (or, with no
human turn yet, after the AI's last turn). Three checks, where the data allows:

* **Summary passed**: the virtual agent's handoff carried a summary for the human (a
  ``<Connect action>`` callback's HandoffData). Unknown without a recorded handoff.
* **Customer did not repeat themselves**: the share of the content words of the customer's first
  turns after the seam (up to ``REPEAT_WINDOW`` turns) that the customer had already said to the
  AI. At ``REPEAT_THRESHOLD`` or more it fails, with the words shown. Content words are words that
  are neither function words nor fillers (``apps.intelligence.nlp.text``); short answers are not
  judged (fewer than ``REPEAT_MIN_WORDS`` content words after the seam).
* **Time to the human's first turn**: seconds from the seam (the handoff's recorded time when it
  falls between the AI's last turn and the human's first, else the end of the AI's last turn) to
  the human's first turn; it fails above ``WAIT_LIMIT_SECONDS``.

The thresholds are judgement calls, documented here rather than tuned to any data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apps.intelligence.nlp.text import content_words

REPEAT_WINDOW = 3
REPEAT_MIN_WORDS = 4
REPEAT_THRESHOLD = 0.5
WAIT_LIMIT_SECONDS = 30.0

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass(frozen=True)
class SeamLine:
    pk: int
    author_type: str | None  # CUSTOMER, AI_AGENT, HUMAN_AGENT, AGENT...
    at: datetime | None  # when the line started
    duration_ms: int | None
    text: str


@dataclass(frozen=True)
class HandoffContext:
    reason: str = ""
    summary: str = ""
    sentiment: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class SeamCheck:
    key: str
    label: str
    status: str  # pass, fail, unknown
    detail: str


@dataclass(frozen=True)
class Seam:
    """``before_pk``: the line the seam follows (the AI's last turn); ``after_pk``: the human's
    first turn (None when the human has not spoken)."""

    before_pk: int | None
    after_pk: int | None
    handoff: HandoffContext | None
    checks: tuple[SeamCheck, ...] = field(default_factory=tuple)
    repeated_words: tuple[str, ...] = ()
    seconds_to_human: float | None = None


def find_seam(lines: Sequence[SeamLine], handoff: HandoffContext | None = None) -> Seam | None:
    """The seam of ``lines`` (in spoken order); None when no AI agent spoke."""
    ai_positions = [i for i, line in enumerate(lines) if line.author_type == "AI_AGENT"]
    if not ai_positions:
        return None
    first_human = next(
        (i for i, line in enumerate(lines) if line.author_type == "HUMAN_AGENT"), None
    )
    if first_human is None:
        last_ai = ai_positions[-1]
    else:
        earlier = [i for i in ai_positions if i < first_human]
        if not earlier:  # the human spoke first: no AI → human seam to judge
            return None
        last_ai = earlier[-1]
    before, after = lines[last_ai], lines[first_human] if first_human is not None else None
    checks = [_summary_check(handoff)]
    repeated: tuple[str, ...] = ()
    seconds = None
    if after is not None and first_human is not None:
        repeat_check, repeated = _repeat_check(lines, last_ai, first_human)
        checks.append(repeat_check)
        wait_check, seconds = _wait_check(before, after, handoff)
        checks.append(wait_check)
    return Seam(
        before_pk=before.pk,
        after_pk=after.pk if after is not None else None,
        handoff=handoff,
        checks=tuple(checks),
        repeated_words=repeated,
        seconds_to_human=seconds,
    )


def _summary_check(handoff: HandoffContext | None) -> SeamCheck:
    label = "A summary was passed to the human"
    if handoff is None:
        return SeamCheck("summary_passed", label, UNKNOWN, "No handoff was recorded.")
    if handoff.summary.strip():
        return SeamCheck("summary_passed", label, PASS, handoff.summary.strip())
    return SeamCheck("summary_passed", label, FAIL, "The handoff carried no summary.")


def _repeat_check(
    lines: Sequence[SeamLine], last_ai: int, first_human: int
) -> tuple[SeamCheck, tuple[str, ...]]:
    label = "The customer did not have to repeat themselves"
    told_ai = {
        word
        for line in lines[: last_ai + 1]
        if line.author_type == "CUSTOMER"
        for word in content_words(line.text)
    }
    after = [line for line in lines[first_human:] if line.author_type == "CUSTOMER"]
    said_again = [word for line in after[:REPEAT_WINDOW] for word in content_words(line.text)]
    distinct = list(dict.fromkeys(said_again))
    if len(distinct) < REPEAT_MIN_WORDS:
        return SeamCheck(
            "no_repeat",
            label,
            UNKNOWN,
            "Too little said after the handoff to tell.",
        ), ()
    repeated = tuple(word for word in distinct if word in told_ai)
    share = len(repeated) / len(distinct)
    detail = (
        f"{len(repeated)} of {len(distinct)} content words after the handoff "
        f"({share:.0%}) had been said to the AI"
        + (f": {', '.join(repeated[:12])}" if repeated else "")
        + "."
    )
    return SeamCheck(
        "no_repeat", label, FAIL if share >= REPEAT_THRESHOLD else PASS, detail
    ), repeated


def _wait_check(
    before: SeamLine, after: SeamLine, handoff: HandoffContext | None
) -> tuple[SeamCheck, float | None]:
    label = f"The human answered within {WAIT_LIMIT_SECONDS:.0f} s"
    start = handoff.at if handoff is not None else None
    # The recorded time is the callback's arrival: trusted only between the AI's last turn and
    # the human's first (a late or retried callback says nothing about the caller's wait).
    if start is not None and not (
        before.at is not None and after.at is not None and before.at <= start <= after.at
    ):
        start = None
    if start is None and before.at is not None:
        start = before.at + timedelta(milliseconds=before.duration_ms or 0)
    if start is None or after.at is None:
        return SeamCheck("time_to_human", label, UNKNOWN, "Line times are missing."), None
    seconds = max((after.at - start).total_seconds(), 0.0)
    status = PASS if seconds <= WAIT_LIMIT_SECONDS else FAIL
    return SeamCheck("time_to_human", label, status, f"{seconds:.0f} s from the handoff."), seconds
