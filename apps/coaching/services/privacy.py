"""Blanking what coaching wrote about a conversation's lines (erasure, apps/privacy)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q

from ..models import EvidencePin, SessionLink


@transaction.atomic
def coaching_erase(*, conversation_ids: Iterable[int]) -> dict[str, int]:
    """The comments of evidence pins on these conversations' lines and the notes of session
    links to them (a coach may have quoted the customer). The pins and links stay; a pinned
    line shows its anonymised text. Sessions' own notes are about the agent, not a
    conversation, and are left. Returns rows changed per kind."""
    conversation_ids = list(conversation_ids)
    pins = (
        EvidencePin.objects.filter(
            Q(communication__conversation_id__in=conversation_ids)
            | Q(link__conversation_id__in=conversation_ids)
        )
        .exclude(comment="")
        .update(comment="")
    )
    links = (
        SessionLink.objects.filter(conversation_id__in=conversation_ids)
        .exclude(note="")
        .update(note="")
    )
    return {"evidence_pins": pins, "session_links": links}
