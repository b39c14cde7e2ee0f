"""Reads of the QA queue, scoped to who is asking (``QueueItem.objects.for_user``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import ExpressionWrapper, F, IntegerField, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.common.pagination import among_ids, capped_count
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
    """Items for ``user``, open or claimed (a claimer becomes the assignee): one range of
    ``qa_item_mine_next_idx``, in claim order."""
    return Q(assignee_id=user.pk, status__in=ACTIVE_ITEM_STATUSES)


def item_base(*, user: Person) -> QuerySet[QueueItem]:
    """Every item ``user`` may work on or see, with what a queue row shows, in a fixed number of
    queries (participants prefetched once for the page)."""
    # Few joins: a nine-table join took 23 ms to plan for 1 ms of execution at 100,000 items;
    # people and reviews come in small queries of their own for the page's rows.
    return _item_adorned(QueueItem.objects.for_user(user))


def item_rows(*, ids: list[int] | QuerySet[Any]) -> QuerySet[QueueItem]:
    """The rows of a page's ``ids`` (read from ``item_base`` with the caller's scope and
    filters: not scoped again), as ``item_base`` shows them."""
    return _item_adorned(QueueItem.objects.filter(among_ids(ids)))


def _item_adorned(items: QuerySet[QueueItem]) -> QuerySet[QueueItem]:
    return items.select_related("conversation", "conversation__team", "agent").prefetch_related(
        "assignee",
        "claimed_by",
        "review",
        Prefetch(
            "conversation__participants",
            queryset=conversations.participants_for_lists(),
        ),
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
        items = items.filter(_mine(user))
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
        items = items.filter(_matching(user, query))
    if tab not in ("pool", "all") and sort in _PERSONAL_SORTS:
        # A person's items in another order than claim order: sort them, rather than let
        # PostgreSQL walk the whole queue's index in that order looking for them (it did: 45 ms
        # at 100,000 items). Sorting on expressions keeps it off those indexes.
        return items.order_by(*_PERSONAL_SORTS[sort])
    return items.order_by(*SORTS.get(sort, SORTS["priority"]))


_PRIORITY = ExpressionWrapper(F("priority") + 0, output_field=IntegerField())
_DUE = Coalesce("due_at", "due_at")
_PERSONAL_SORTS = {
    "due": (_DUE.asc(nulls_last=True), _PRIORITY.desc(), "id"),
    "newest": (Coalesce("created_at", "created_at").desc(), "-id"),
    "oldest": (Coalesce("created_at", "created_at").asc(), "id"),
}


def _matching(user: Person, query: str) -> Q:
    """Items of customers or agents whose name contains ``query``: looked up in the (smaller)
    tables of conversations and agents first, rather than scanning every item's text."""
    return Q(
        conversation_id__in=conversations.conversations_of(user=user)
        .filter(name__icontains=query)
        .values("pk")
    ) | Q(
        agent_id__in=accounts.agent_choices(user=user)
        .filter(display_name__icontains=query)
        .values("pk")
    )


@dataclass(frozen=True)
class TabCount:
    """A tab's count, exact up to ``COUNT_CAP`` (then ``more``: shown as "10,000+")."""

    n: int
    more: bool = False

    def __bool__(self) -> bool:
        return self.n > 0

    def __str__(self) -> str:
        return f"{self.n:,}{'+' if self.more else ''}"


@dataclass(frozen=True)
class QueueCounts:
    mine: TabCount
    pool: TabCount
    all: TabCount | None  # admins only
    overdue_mine: TabCount
    overdue_pool: TabCount


def queue_counts(*, user: Person) -> QueueCounts:
    """The tab counts: a few small index reads, each stopping at ``COUNT_CAP`` (one aggregate
    over every row took 36 ms at 100,000 items)."""
    now = timezone.now()
    items = QueueItem.objects.for_user(user)
    mine = items.filter(_mine(user))
    pool = items.filter(status=ItemStatus.OPEN, assignee__isnull=True)

    def count(rows: QuerySet[QueueItem]) -> TabCount:
        return TabCount(*capped_count(rows))

    return QueueCounts(
        mine=count(mine),
        pool=count(pool),
        all=count(items) if can_see_everything(user) else None,
        overdue_mine=count(mine.filter(due_at__lt=now)),
        overdue_pool=count(pool.filter(due_at__lt=now)),
    )


def item_get(*, user: Person, pk: int) -> QueueItem:
    item = (
        item_base(user=user)
        .select_related("policy")
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
