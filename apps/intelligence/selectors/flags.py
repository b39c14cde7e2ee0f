"""Flags as other apps need them: the QA queue makes an item of every open flag."""

from __future__ import annotations

from typing import NamedTuple

from ..choices import FlagStatus
from ..models import Flag


class FlagBrief(NamedTuple):
    pk: int
    conversation_id: int
    reason: str
    rule_name: str


def open_flags_brief(*, limit: int = 5000) -> list[FlagBrief]:
    """Open flags, oldest first."""
    rows = (
        Flag.objects.filter(status=FlagStatus.OPEN)
        .order_by("created_at", "id")
        .values_list("pk", "conversation_id", "reason", "rule__name")[:limit]
    )
    return [
        FlagBrief(pk, conversation, reason, rule or "") for pk, conversation, reason, rule in rows
    ]
