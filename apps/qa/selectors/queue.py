"""Reads of the QA queue, scoped to who is asking (``QueueItem.objects.for_user``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.conversations import selectors as conversations

from ..choices import ACTIVE_ITEM_STATUSES, ItemStatus
from ..models import QueueItem, QueueItemEvent

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

TABS = ("mine", "pool", "all")
SORTS = {
    "priority": (F("priority").desc(), F("due_at").asc(nulls_last=True), "id"),
    "due": (F("due_at").asc(nulls_last=True), F("priority").desc(), "id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
}


def can_see_everything(user: Person) -> bool:
    """The "all" tab: every item in every state (admins)."""
    return can_use(user, "qa_manage")


def _mine(user: Person) -> Q:
    return Q(assignee_id=user.pk) | Q(claimed_by_id=user.pk)


def item_base(*, user: Person) -> QuerySet[QueueItem]:
    """Every item ``user`` may work on or see, with what a queue row shows, in a fixed number of
    queries (participants prefetched once for the page)."""
    return (
        QueueItem.objects.for_user(user)
        .select_related(
            "conversation",
            "conversation__team",
            "agent",
            "assignee",
            "claimed_by",
            "policy",
            "review",
        )
        .prefetch_related(
            Prefetch(
                "conversation__participants",
                queryset=conversations.participants_for_lists(),
            )
        )
    )


def item_list(
    *,
    user: Person,
    tab: str = "mine",
    source: str = "",
    status: str = "",
    priority: int | None = None,
    team_id: int | None = None,
    agent_id: int | None = None,
    policy_id: int | None = None,
    overdue: bool = False,
    query: str = "",
    sort: str = "priority",
) -> QuerySet[QueueItem]:
    """The items of one tab of the queue page, filtered and sorted.

    ``mine``: assigned to or claimed by ``user`` and not finished; ``pool``: open and assigned to
    nobody; ``all`` (admins): everything, any status.
    """
    items = item_base(user=user)
    if tab == "pool":
        items = items.filter(status=ItemStatus.OPEN, assignee__isnull=True)
    elif tab == "all" and can_see_everything(user):
        pass
    else:
        items = items.filter(_mine(user), status__in=ACTIVE_ITEM_STATUSES)
    if source:
        items = items.filter(source=source)
    if status:
        items = items.filter(status=status)
    if priority is not None:
        items = items.filter(priority=priority)
    if team_id is not None:
        items = items.filter(conversation__team_id=team_id)
    if agent_id is not None:
        items = items.filter(agent_id=agent_id)
    if policy_id is not None:
        items = items.filter(policy_id=policy_id)
    if overdue:
        items = items.filter(status__in=ACTIVE_ITEM_STATUSES, due_at__lt=timezone.now())
    if query:
        items = items.filter(
            Q(conversation__name__icontains=query)
            | Q(reason__icontains=query)
            | Q(agent__display_name__icontains=query)
        )
    return items.order_by(*SORTS.get(sort, SORTS["priority"]))


@dataclass(frozen=True)
class QueueCounts:
    mine: int
    pool: int
    all: int
    overdue_mine: int
    overdue_pool: int


def queue_counts(*, user: Person) -> QueueCounts:
    """The tab counts, in one query."""
    now = timezone.now()
    active = Q(status__in=ACTIVE_ITEM_STATUSES)
    pool = Q(status=ItemStatus.OPEN, assignee__isnull=True)
    counts = QueueItem.objects.for_user(user).aggregate(
        mine=Count("id", filter=active & _mine(user)),
        pool=Count("id", filter=pool),
        all=Count("id"),
        overdue_mine=Count("id", filter=active & _mine(user) & Q(due_at__lt=now)),
        overdue_pool=Count("id", filter=pool & Q(due_at__lt=now)),
    )
    return QueueCounts(**counts)


def item_get(*, user: Person, pk: int) -> QueueItem:
    item = (
        item_base(user=user)
        .prefetch_related(
            Prefetch(
                "events",
                queryset=QueueItemEvent.objects.select_related("actor", "assignee").order_by(
                    "at", "id"
                ),
            )
        )
        .filter(pk=pk)
        .first()
    )
    if item is None:
        raise NotFound("No such queue item.")
    return item


def items_of_conversation(*, user: Person, conversation_id: int) -> list[QueueItem]:
    """A conversation's items ``user`` may see, newest first (the conversation page's panel)."""
    return list(
        QueueItem.objects.for_user(user)
        .filter(conversation_id=conversation_id)
        .select_related("assignee", "claimed_by", "review")
        .order_by("-created_at", "-id")
    )
