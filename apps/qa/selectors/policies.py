"""Reads of sampling policies (admins manage them; every reviewer may read them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.conversations import selectors as conversations

from ..choices import ItemStatus
from ..models import SamplingPolicy
from ..services.sampling import PREVIEW_LIMIT, Pick, PolicySpec, policy_pick, reason_for

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def can_manage_policies(user: Person) -> bool:
    return can_use(user, "qa_manage")


def policy_list(*, user: Person) -> QuerySet[SamplingPolicy]:
    """Policies for reviewers and admins, by name, with their open and total item counts."""
    if not can_use(user, "qa_review"):
        return SamplingPolicy.objects.none()
    return (
        SamplingPolicy.objects.select_related("created_by")
        .prefetch_related("teams", "agents", "reviewers")
        .annotate(
            open_items=Count(
                "items", filter=Q(items__status__in=[ItemStatus.OPEN, ItemStatus.CLAIMED])
            ),
            item_count=Count("items"),
        )
        .order_by("name", "id")
    )


def policy_get(*, user: Person, pk: int) -> SamplingPolicy:
    policy = policy_list(user=user).filter(pk=pk).first()
    if policy is None:
        raise NotFound("No such sampling policy.")
    return policy


@dataclass(frozen=True)
class PreviewRow:
    pick: Pick
    conversation: Any
    reason: str


@dataclass(frozen=True)
class Preview:
    period: str
    start: datetime
    matching: int
    already: int
    queued: int
    agents: int
    rows: list[PreviewRow]
    truncated: bool


def policy_preview(*, user: Person, spec: PolicySpec, now: datetime | None = None) -> Preview:
    """What ``spec`` would pick now (saved or not), with each conversation as ``user``'s list
    rows show it (a pick they may not see is left out); at most ``PREVIEW_LIMIT`` rows."""
    picking = policy_pick(spec, now=now, limit=PREVIEW_LIMIT + 1)
    picks = picking.picks[:PREVIEW_LIMIT]
    shown = {
        c.pk: c
        for c in conversations.conversation_list(user=user).filter(
            pk__in=[p.conversation_id for p in picks]
        )
    }
    return Preview(
        period=picking.window.key,
        start=picking.window.start,
        matching=picking.matching,
        already=picking.already,
        queued=picking.queued,
        agents=picking.agents,
        rows=[
            PreviewRow(pick, shown[pick.conversation_id], reason_for(spec, pick))
            for pick in picks
            if pick.conversation_id in shown
        ],
        truncated=len(picking.picks) > PREVIEW_LIMIT,
    )
