"""How a transcript line is shown: its speaker, their side and role, its offset in the call.

One definition for the page's templates (``templatetags.conversation_tags`` registers these as
filters) and for the line's live event (``selectors.line_event``), so a line pushed to the
browser reads exactly like one rendered with the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .choices import ParticipantType

if TYPE_CHECKING:
    from .models import Communication, Conversation, Participant

# Side of the transcript a speaker's lines go: customers left, people and bots of ours right.
_SPEAKER_KINDS: dict[str, str] = {
    ParticipantType.CUSTOMER: "customer",
    ParticipantType.HUMAN_AGENT: "agent",
    ParticipantType.AGENT: "agent",
    ParticipantType.AI_AGENT: "ai",
}
_SPEAKER_ROLES = {"customer": "Customer", "agent": "Agent", "ai": "AI agent"}


def clock(total_seconds: float, *, pad_minutes: bool) -> str:
    sign = "-" if total_seconds < 0 else ""
    seconds = int(abs(total_seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours and not pad_minutes:
        return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
    minutes += hours * 60
    return f"{sign}{minutes:02d}:{seconds:02d}" if pad_minutes else f"{sign}{minutes}:{seconds:02d}"


def line_offset(line: Communication, conversation: Conversation) -> str:
    """How far into the conversation a line was said, as ``mm:ss``."""
    if line.offset_ms is not None:
        return clock(line.offset_ms / 1000, pad_minutes=True)
    if conversation.started_at is not None:
        return clock((line.occurred_at - conversation.started_at).total_seconds(), pad_minutes=True)
    return "—"


def speaker_kind(participant: Participant | None) -> str:
    """``customer``, ``agent``, ``ai`` or ``unknown``: decides the side and colour of a line."""
    if participant is None:
        return "unknown"
    return _SPEAKER_KINDS.get(participant.type, "unknown")


def speaker_role(participant: Participant | None) -> str:
    return _SPEAKER_ROLES.get(speaker_kind(participant), "Unknown")


def speaker_name(line: Communication) -> str:
    """Who said a line: the participant's name, else their address."""
    if line.author is not None:
        return line.author.name or line.author_address or "Unnamed"
    return line.author_address or "Unknown speaker"
