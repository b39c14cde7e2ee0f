"""Action items: what was agreed in a session, who does it (the agent or the coach), by when,
and whether it is done. The owner or a coach ticks it; the agent ticks their own. Items due
are announced once each by a periodic sweep (``due_notified_at``)."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.selectors import signed_in
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed

from ..models import ActionItem, CoachingSession
from ..selectors import sessions as reads
from . import notify
from .sessions import OPEN_STATUSES, _require_session

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

TEXT_MAX = 500


def _owners(session: CoachingSession) -> set[int]:
    return {pk for pk in (session.agent.user_id, session.coach_id) if pk is not None}


def _clean_text(text: str, errors: dict[str, list[str]]) -> str:
    text = (text or "").strip()
    if not text:
        errors.setdefault("text", []).append("Say what is to be done.")
    elif len(text) > TEXT_MAX:
        errors.setdefault("text", []).append(f"At most {TEXT_MAX} characters.")
    return text


@transaction.atomic
def action_item_add(
    *,
    user: Person,
    session: CoachingSession,
    text: str,
    owner_id: int | None = None,
    due_on: date | None = None,
) -> ActionItem:
    """An action item of the session; the owner defaults to the agent (their login), else the
    coach."""
    _require_session(user, session)
    if session.status not in OPEN_STATUSES:
        raise ValidationFailed(
            {"text": ["Action items are agreed while a session is planned or held."]}
        )
    errors: dict[str, list[str]] = {}
    text = _clean_text(text, errors)
    owners = _owners(session)
    if owner_id is None:
        owner_id = session.agent.user_id or session.coach_id
    elif owner_id not in owners:
        errors["owner"] = ["The owner is the agent or the coach of the session."]
    if errors:
        raise ValidationFailed(errors)
    return ActionItem.objects.create(
        agent_id=session.agent_id,
        session=session,
        owner_id=owner_id,
        text=text,
        due_on=due_on,
        created_by=signed_in(user),
    )


@transaction.atomic
def action_item_update(
    *,
    user: Person,
    item: ActionItem,
    text: str | None = None,
    owner_id: int | None = None,
    due_on: date | Any | None = ...,
) -> ActionItem:
    """Change an item's text, owner or due date (coaches). A new due date is announced again."""
    if not reads.can_manage(user) or not _in_scope(user, item):
        raise PermissionDenied("Only coaches and admins change action items.")
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if text is not None:
        values["text"] = _clean_text(text, errors)
    if owner_id is not None:
        if item.session is not None and owner_id not in _owners(item.session):
            errors["owner"] = ["The owner is the agent or the coach of the session."]
        values["owner_id"] = owner_id
    if due_on is not ...:
        values["due_on"] = due_on
        if due_on != item.due_on:
            values["due_notified_at"] = None
    if errors:
        raise ValidationFailed(errors)
    if values:
        ActionItem.objects.filter(pk=item.pk).update(**values, updated_at=timezone.now())
        item.refresh_from_db()
    return item


def _in_scope(user: Person, item: ActionItem) -> bool:
    return ActionItem.objects.for_user(user).filter(pk=item.pk).exists()


def may_tick(user: Person, item: ActionItem) -> bool:
    """The owner, the agent it is for (their own items), or a coach over the agent."""
    if not _in_scope(user, item):
        return False
    if reads.can_manage(user):
        return True
    return user.pk is not None and user.pk == item.owner_id


@transaction.atomic
def action_item_tick(*, user: Person, item: ActionItem, done: bool = True) -> ActionItem:
    """Mark done (or not done again). Ticking what is already so changes nothing."""
    if not _in_scope(user, item):
        raise NotFound("No such action item.")
    if not may_tick(user, item):
        raise PermissionDenied("Only its owner or a coach ticks an action item.")
    now = timezone.now()
    if done:
        ActionItem.objects.filter(pk=item.pk, done_at__isnull=True).update(
            done_at=now, done_by=signed_in(user), updated_at=now
        )
    else:
        ActionItem.objects.filter(pk=item.pk, done_at__isnull=False).update(
            done_at=None, done_by=None, updated_at=now
        )
    item.refresh_from_db()
    return item


def action_items_due_sweep(*, today: date | None = None, limit: int = 500) -> int:
    """Announce each open item due today or before, once (``due_notified_at``), to its owner
    (or the agent's login when it has none). Safe to run twice: the guarded UPDATE claims each
    item for one run only."""
    today = today or timezone.localdate()
    ids = list(
        ActionItem.objects.filter(
            done_at__isnull=True, due_notified_at__isnull=True, due_on__lte=today
        )
        .order_by("due_on", "id")
        .values_list("pk", flat=True)[:limit]
    )
    told = 0
    for pk in ids:
        with transaction.atomic():
            claimed = ActionItem.objects.filter(
                pk=pk, done_at__isnull=True, due_notified_at__isnull=True
            ).update(due_notified_at=timezone.now())
            if not claimed:
                continue
            item = ActionItem.objects.select_related("agent").get(pk=pk)
            user_id = item.owner_id or item.agent.user_id
            if user_id is not None:
                transaction.on_commit(partial(notify.action_due, item, user_id=user_id))
            told += 1
    return told
