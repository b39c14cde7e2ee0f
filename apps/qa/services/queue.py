"""The QA queue: items in (flags, sampling, by hand), claimed, put back, reassigned, removed.

One item per (conversation, source key), enforced by the database: a flag raised twice, or a
policy run twice in one period, finds its item already there. Every state change is a guarded
``UPDATE`` (or a row locked with ``FOR UPDATE``), and leaves a line in the item's history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.scoping import can_use, scope_for
from apps.accounts.selectors import user_choices
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence
from apps.intelligence import services as intelligence_services

from ..choices import ItemAction, ItemSource, ItemStatus, Priority, ReviewStatus
from ..models import QueueItem, QueueItemEvent, Review
from . import notify
from .reviewers import may_review

if TYPE_CHECKING:
    from apps.accounts.scoping import Person
    from apps.intelligence.models import Flag

REASON_MAX = 2000
# How claim-next orders work: the most urgent first, then the earliest due, then the oldest.
NEXT_ORDER = ("-priority", "due_at", "id")


def _event(
    item_id: int,
    action: str,
    *,
    actor: Any = None,
    assignee_id: int | None = None,
    note: str = "",
) -> None:
    QueueItemEvent.objects.create(
        item_id=item_id,
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        assignee_id=assignee_id,
        note=note[:REASON_MAX],
    )


def _primary_agent_id(conversation_id: int) -> int | None:
    return (
        conversations.with_agent_columns(
            conversations.conversations_unscoped().filter(pk=conversation_id)
        )
        .values_list("primary_agent_id", flat=True)
        .first()
    )


def queue_item_add(
    *,
    conversation_id: int,
    source: str,
    source_key: str,
    reason: str,
    priority: int = Priority.NORMAL,
    due_at: datetime | None = None,
    assignee_id: int | None = None,
    flag_id: int | None = None,
    calibration_id: int | None = None,
    created_by: Any = None,
    announce: bool = True,
) -> tuple[QueueItem, bool]:
    """The item for (conversation, source key), created if missing; returns it and whether it is
    new. Safe against a concurrent add of the same key (one row, the other caller gets it).
    ``announce``: tell the assignee (or the QA analysts, for the pool) after commit."""
    existing = QueueItem.objects.filter(
        conversation_id=conversation_id, source_key=source_key
    ).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            item = QueueItem.objects.create(
                conversation_id=conversation_id,
                source=source,
                source_key=source_key,
                reason=reason[:REASON_MAX],
                priority=priority,
                due_at=due_at,
                assignee_id=assignee_id,
                flag_id=flag_id,
                calibration_id=calibration_id,
                agent_id=_primary_agent_id(conversation_id),
                created_by=created_by if getattr(created_by, "pk", None) else None,
            )
            _event(item.pk, ItemAction.CREATED, actor=created_by, assignee_id=assignee_id)
    except IntegrityError:
        return QueueItem.objects.get(conversation_id=conversation_id, source_key=source_key), False
    if not announce:
        pass
    elif assignee_id is not None:
        transaction.on_commit(lambda: notify.item_assigned(item, user_id=assignee_id))
    else:
        transaction.on_commit(lambda: notify.pool_grew(1))
    return item, True


def flag_source_key(flag_id: int) -> str:
    return f"flag:{flag_id}"


def queue_item_for_flag(flag: Flag | intelligence.FlagBrief) -> bool:
    """Queue a flag a rule raised (``intelligence.on_flag_raised``): in the pool, high priority,
    due in QA_FLAG_DUE_HOURS, with the flag's reason. Whether its item is new."""
    _, new = queue_item_add(
        conversation_id=flag.conversation_id,
        source=ItemSource.FLAG,
        source_key=flag_source_key(flag.pk),
        reason=flag.reason,
        priority=Priority.HIGH,
        due_at=timezone.now() + timedelta(hours=settings.QA_FLAG_DUE_HOURS),
        flag_id=flag.pk,
    )
    return new


def queue_flags_sweep() -> dict[str, int]:
    """Make the items of open flags that have none (raised before QA was installed, or while it
    was switched off). The hook makes them as flags are raised; this is the safety net."""
    open_flags = intelligence.open_flags_brief()
    have = set(
        QueueItem.objects.filter(flag_id__in=[f.pk for f in open_flags]).values_list(
            "flag_id", flat=True
        )
    )
    created = 0
    for flag in open_flags:
        if flag.pk in have:
            continue
        with transaction.atomic():
            created += int(queue_item_for_flag(flag))
    return {"open_flags": len(open_flags), "created": created}


@transaction.atomic
def queue_item_send(
    *,
    user: Person,
    conversation_id: int,
    reason: str,
    priority: int = Priority.NORMAL,
    due_at: datetime | None = None,
    assignee_id: int | None = None,
) -> QueueItem:
    """Send a conversation ``user`` may see to the queue by hand ("send to QA"). One active
    manual item per conversation: a second send while one is open is a Conflict."""
    if not can_use(user, "qa_send"):
        raise PermissionDenied("Your role may not send conversations to QA.")
    if not conversations.conversations_of(user=user).filter(pk=conversation_id).exists():
        raise NotFound("No such conversation.")
    reason = reason.strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["Say why this conversation should be reviewed."]
    if priority not in Priority.values:
        errors["priority"] = ["Choose a priority."]
    if assignee_id is not None:
        _check_assignee(assignee_id, conversation_id, errors)
    if errors:
        raise ValidationFailed(errors)
    manual = QueueItem.objects.select_for_update().filter(
        conversation_id=conversation_id, source=ItemSource.MANUAL
    )
    if manual.filter(status__in=[ItemStatus.OPEN, ItemStatus.CLAIMED]).exists():
        raise Conflict("This conversation is already in the QA queue (sent by hand).")
    item, _ = queue_item_add(
        conversation_id=conversation_id,
        source=ItemSource.MANUAL,
        source_key=f"manual:{manual.count() + 1}",
        reason=f"Sent to QA by {user}: {reason}",
        priority=priority,
        due_at=due_at or timezone.now() + timedelta(hours=settings.QA_MANUAL_DUE_HOURS),
        assignee_id=assignee_id,
        created_by=user,
    )
    return item


def _check_assignee(assignee_id: int, conversation_id: int, errors: dict[str, list[str]]) -> None:
    people = conversations.conversation_people(ids=[conversation_id]).get(conversation_id)
    reviewer = next((u for u in user_choices(features=["qa_review"]) if u.pk == assignee_id), None)
    if reviewer is None or people is None or not may_review(reviewer, people):
        errors["assignee"] = [
            "That person may not review this conversation (not a reviewer, outside their "
            "teams, or it is their own)."
        ]


def _claimable(user: Person) -> Any:
    items = QueueItem.objects.for_user(user).filter(status=ItemStatus.OPEN)
    if user.pk is not None:
        # Never one's own conversation.
        items = items.exclude(
            conversation_id__in=conversations.conversation_ids_handled_by(user_id=user.pk)
        )
    return items


def queue_claim_next(*, user: Person) -> QueueItem | None:
    """Hand ``user`` the next item: theirs first, then the pool's; the most urgent, earliest due,
    oldest. ``FOR UPDATE SKIP LOCKED``: two reviewers asking at once never get the same item.
    None when there is nothing to claim. ``reviews.review_start`` then opens its review (in a
    transaction of its own: the claim, the contended part, is one short statement)."""
    if not can_use(user, "qa_review"):
        raise PermissionDenied("Your role does not review conversations.")
    # The statement depends on the user and their scope only: compiled once per process.
    key = (user.pk, scope_for(user))
    statement = _NEXT_STATEMENTS.get(key)
    if statement is None:
        claimable = _claimable(user)
        statement = _claim_statement(
            claimable.filter(assignee=user).order_by(*NEXT_ORDER),
            claimable.filter(assignee__isnull=True).order_by(*NEXT_ORDER),
            skip_locked=True,
        )
        if len(_NEXT_STATEMENTS) > 1000:
            _NEXT_STATEMENTS.clear()
        _NEXT_STATEMENTS[key] = statement
    return _claim_run(statement, user=user)


_NEXT_STATEMENTS: dict[tuple[Any, Any], tuple[str, list[Any]]] = {}


@transaction.atomic
def queue_item_claim(*, user: Person, item_id: int) -> QueueItem:
    """Claim one item ``user`` may review: open, and theirs or the pool's (admins: anyone's)."""
    if not can_use(user, "qa_review"):
        raise PermissionDenied("Your role does not review conversations.")
    candidates = _claimable(user).filter(pk=item_id)
    if not can_use(user, "qa_manage"):
        candidates = candidates.filter(Q(assignee__isnull=True) | Q(assignee=user))
    # A calibration item is its participant's own answer, whoever else may claim items.
    candidates = candidates.exclude(Q(calibration__isnull=False) & ~Q(assignee=user))
    item = _claim_run(_claim_statement(candidates, skip_locked=False), user=user)
    if item is None:
        current = QueueItem.objects.for_user(user).filter(pk=item_id).first()
        if current is None:
            raise NotFound("No such queue item.")
        if current.status == ItemStatus.CLAIMED and current.claimed_by_id == user.pk:
            return current
        if current.status != ItemStatus.OPEN:
            raise Conflict(f"This item is {current.get_status_display().lower()} already.")
        if current.assignee_id not in (None, user.pk):
            raise PermissionDenied("This item is assigned to someone else.")
        raise PermissionDenied("Nobody reviews their own conversation.")
    return item


# Claiming is the one contended write of the queue, so it is one statement: take the first row
# of the first list of candidates that has one (the caller's items, then the pool's), locked
# (skipping rows others hold, for claim next), mark it claimed and write its history line, in a
# single round trip; in autocommit, its locks last as long as the statement. (As separate ORM
# calls in a transaction it took six round trips; bench/qa.py, docs/benchmarks.md.)
_CLAIM_SQL = """
WITH {lists},
next AS ({union} ORDER BY rank LIMIT 1),
claimed AS (
    UPDATE qa_queueitem SET status = %s, claimed_by_id = %s, claimed_at = %s, updated_at = %s,
        assignee_id = COALESCE(qa_queueitem.assignee_id, %s),
        claimed_from_pool = (qa_queueitem.assignee_id IS NULL)
    FROM next WHERE qa_queueitem.id = next.id AND qa_queueitem.status = %s
    RETURNING qa_queueitem.*
),
logged AS (
    INSERT INTO qa_queueitemevent (item_id, action, actor_id, assignee_id, note, at)
    SELECT id, %s, %s, NULL, '', %s FROM claimed
)
SELECT * FROM claimed
"""


def _claim_statement(*candidates: Any, skip_locked: bool) -> tuple[str, list[Any]]:
    """The claim statement over lists of candidates, tried in order."""
    lists, union, params = [], [], []
    # Django compiles FOR UPDATE only inside a transaction, which this statement does not need:
    # the lock clause is written here.
    lock = 'FOR UPDATE OF "qa_queueitem"' + (" SKIP LOCKED" if skip_locked else "")
    for rank, rows in enumerate(candidates):
        sql, list_params = rows.values("id")[:1].query.sql_with_params()
        lists.append(f"list{rank} AS ({sql} {lock})")
        union.append(f"SELECT id, {rank} AS rank FROM list{rank}")
        params.extend(list_params)
    sql = _CLAIM_SQL.format(lists=",\n".join(lists), union=" UNION ALL ".join(union))
    return sql, params


def _claim_run(statement: tuple[str, list[Any]], *, user: Person) -> QueueItem | None:
    sql, params = statement
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                *params,
                ItemStatus.CLAIMED,
                user.pk,
                now,
                now,
                user.pk,
                ItemStatus.OPEN,
                ItemAction.CLAIMED,
                user.pk,
                now,
            ],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        by_column = dict(zip((column.name for column in cursor.description), row, strict=True))
    fields = QueueItem._meta.concrete_fields
    return QueueItem.from_db(
        "default", [f.attname for f in fields], [by_column[f.column] for f in fields]
    )


def _locked(item_id: int) -> QueueItem:
    item = QueueItem.objects.select_for_update(of=("self",)).filter(pk=item_id).first()
    if item is None:
        raise NotFound("No such queue item.")
    return item


def _discard_draft(item: QueueItem) -> None:
    Review.objects.filter(item=item, status=ReviewStatus.DRAFT).delete()


@transaction.atomic
def queue_item_unclaim(*, user: Person, item: QueueItem) -> QueueItem:
    """Put a claimed item back (its claimer, or an admin); its draft review is discarded."""
    item = _locked(item.pk)
    if item.status != ItemStatus.CLAIMED:
        raise Conflict("Only a claimed item can be put back.")
    if item.claimed_by_id != user.pk and not can_use(user, "qa_manage"):
        raise PermissionDenied("Only whoever claimed it, or an admin, may put it back.")
    _discard_draft(item)
    QueueItem.objects.filter(pk=item.pk, status=ItemStatus.CLAIMED).update(
        status=ItemStatus.OPEN,
        claimed_by=None,
        claimed_at=None,
        assignee_id=None if item.claimed_from_pool else item.assignee_id,
        claimed_from_pool=False,
        updated_at=timezone.now(),
    )
    _event(item.pk, ItemAction.RELEASED, actor=user)
    item.refresh_from_db()
    return item


@transaction.atomic
def queue_item_reassign(
    *, user: Person, item: QueueItem, assignee_id: int | None, reason: str
) -> QueueItem:
    """Give an item to another reviewer (None: to the pool), with a reason (admins). A claimed
    item's draft goes with it: nothing typed is lost."""
    if not can_use(user, "qa_manage"):
        raise PermissionDenied("Only admins reassign queue items.")
    item = _locked(item.pk)
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = ["Say why it is reassigned."]
    if item.status not in (ItemStatus.OPEN, ItemStatus.CLAIMED):
        raise Conflict(f"A {item.get_status_display().lower()} item cannot be reassigned.")
    if item.calibration_id is not None:
        raise Conflict("A calibration item asks its participant for their own answer.")
    if assignee_id is not None:
        _check_assignee(assignee_id, item.conversation_id, errors)
    if item.status == ItemStatus.CLAIMED and assignee_id is None:
        errors["assignee"] = [
            "A claimed item goes to a person; put it back to return it to the pool."
        ]
    if errors:
        raise ValidationFailed(errors)
    now = timezone.now()
    changes: dict[str, Any] = {"assignee_id": assignee_id, "updated_at": now}
    if item.status == ItemStatus.CLAIMED:
        changes |= {"claimed_by_id": assignee_id, "claimed_at": now, "claimed_from_pool": False}
        Review.objects.filter(item=item).update(reviewer_id=assignee_id, updated_at=now)
    QueueItem.objects.filter(pk=item.pk, status=item.status).update(**changes)
    _event(item.pk, ItemAction.REASSIGNED, actor=user, assignee_id=assignee_id, note=reason.strip())
    item.refresh_from_db()
    if assignee_id is not None:
        transaction.on_commit(lambda: notify.item_assigned(item, user_id=assignee_id))
    return item


@transaction.atomic
def queue_item_remove(*, user: Person, item: QueueItem, reason: str) -> QueueItem:
    """Take an item out of the queue with a reason (admins); a draft review is discarded and the
    item's flag is resolved with the reason."""
    if not can_use(user, "qa_manage"):
        raise PermissionDenied("Only admins remove queue items.")
    if not reason.strip():
        raise ValidationFailed({"reason": ["Say why it is removed."]})
    item = _locked(item.pk)
    if item.status not in (ItemStatus.OPEN, ItemStatus.CLAIMED):
        raise Conflict(f"A {item.get_status_display().lower()} item cannot be removed.")
    _discard_draft(item)
    now = timezone.now()
    QueueItem.objects.filter(pk=item.pk, status=item.status).update(
        status=ItemStatus.REMOVED,
        removed_at=now,
        removed_by=user,
        removed_reason=reason.strip()[:REASON_MAX],
        updated_at=now,
    )
    _event(item.pk, ItemAction.REMOVED, actor=user, note=reason.strip())
    if item.flag_id is not None:
        intelligence_services.flags_resolve(
            flag_ids=[item.flag_id], user=user, note=f"Removed from the QA queue: {reason.strip()}"
        )
    item.refresh_from_db()
    return item


def queue_items_done(*, conversation_id: int, review: Review, user: Any) -> int:
    """A submitted review finishes the conversation's open and claimed-by-its-reviewer items
    (its own, and any other source's), and resolves the conversation's open flags.

    A calibration answer finishes its own item only, and resolves nothing: it is one opinion
    among several, not the conversation's review. Nor does a review finish calibration items,
    which ask each participant for their own answer."""
    now = timezone.now()
    if review.is_calibration:
        items = list(
            QueueItem.objects.select_for_update(of=("self",))
            .filter(pk=review.item_id or 0)
            .exclude(status__in=[ItemStatus.DONE, ItemStatus.REMOVED])
        )
    else:
        items = list(
            QueueItem.objects.select_for_update(of=("self",))
            .filter(conversation_id=conversation_id)
            .filter(
                Q(status=ItemStatus.OPEN)
                | Q(status=ItemStatus.CLAIMED, claimed_by_id=review.reviewer_id)
                | Q(pk=review.item_id)
            )
            .exclude(status__in=[ItemStatus.DONE, ItemStatus.REMOVED])
            .exclude(source=ItemSource.CALIBRATION)
        )
    for item in items:
        QueueItem.objects.filter(pk=item.pk, status=item.status).update(
            status=ItemStatus.DONE, done_at=now, updated_at=now
        )
        note = "" if item.pk == review.item_id else f"Covered by review {review.pk}"
        _event(item.pk, ItemAction.DONE, actor=user, note=note)
    if not review.is_calibration:
        intelligence_services.flags_resolve(
            conversation_id=conversation_id, user=user, note=f"QA review {review.pk} submitted"
        )
    return len(items)
