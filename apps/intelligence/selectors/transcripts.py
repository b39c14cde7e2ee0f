"""The transcript as operators read it (text already redacted at ingest)."""

from __future__ import annotations

from apps.conversations import selectors as conversations

from ..operators.base import TranscriptLine

_ROLE = {"CUSTOMER": "customer", "HUMAN_AGENT": "agent", "AI_AGENT": "agent", "AGENT": "agent"}


def transcript_lines(*, conversation_id: int) -> list[TranscriptLine]:
    """Every communication of the conversation in spoken order, as operators read them."""
    return [
        TranscriptLine(
            pk=row.pk,
            twilio_id=row.twilio_id,
            role=_ROLE.get(row.author_type or "", "other"),
            author_type=row.author_type,
            offset_ms=row.offset_ms,
            duration_ms=row.duration_ms,
            text=row.text,
        )
        for row in conversations.transcript_rows(conversation_id=conversation_id)
    ]
