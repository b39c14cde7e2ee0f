"""The transcript as operators read it (text already redacted at ingest)."""

from __future__ import annotations

from collections.abc import Iterable

from apps.conversations import selectors as conversations

from ..operators.base import TranscriptLine

_ROLE = {"CUSTOMER": "customer", "HUMAN_AGENT": "agent", "AI_AGENT": "agent", "AGENT": "agent"}


def _line(row: conversations.TranscriptRow) -> TranscriptLine:
    return TranscriptLine(
        pk=row.pk,
        twilio_id=row.twilio_id,
        role=_ROLE.get(row.author_type or "", "other"),
        author_type=row.author_type,
        offset_ms=row.offset_ms,
        duration_ms=row.duration_ms,
        text=row.text,
    )


def transcript_lines(*, conversation_id: int) -> list[TranscriptLine]:
    """Every communication of the conversation in spoken order, as operators read them."""
    return [_line(row) for row in conversations.transcript_rows(conversation_id=conversation_id)]


def transcript_lines_many(*, conversation_ids: Iterable[int]) -> dict[int, list[TranscriptLine]]:
    """``transcript_lines`` of several conversations in one query."""
    found = conversations.transcript_rows_many(conversation_ids=conversation_ids)
    return {pk: [_line(row) for row in rows] for pk, rows in found.items()}
