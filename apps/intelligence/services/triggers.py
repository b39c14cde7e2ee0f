"""When rules run: an execution row per (rule, conversation, trigger point), made once.

The unique row is the "exactly once": the same events delivered again, a replay, a double click
on Run now all compute the same point and find the row there. Executions are drained by the
operator workers (``engine``), woken after commit (``wakeup``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.accounts.selectors import signed_in
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.conversations import selectors as conversations_selectors
from apps.conversations.choices import ConversationStatus

from .. import selectors
from ..choices import ExecutionStatus, TriggerOn
from ..models import Rule, RuleExecution
from . import engine, wakeup

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def _communications_table() -> str:
    # Counted in the statement that inserts the executions (once per communication Twilio
    # sends: a round trip saved); the model is reached through our own foreign key.
    return RuleExecution._meta.get_field("through_communication").related_model._meta.db_table


def execution_create(
    *,
    rule: Rule,
    conversation_id: int,
    trigger_point: str,
    through_communication_id: int | None,
    requested_by_id: int | None = None,
) -> int | None:
    """Insert the execution unless this (rule, conversation, point) already has one."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {RuleExecution._meta.db_table}
                (rule_id, conversation_id, trigger_on, trigger_point, through_communication_id,
                 status, requested_by_id, triggered_at, attempts, error, detail)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, '', '{{}}'::jsonb)
            ON CONFLICT (rule_id, conversation_id, trigger_point) DO NOTHING
            RETURNING id
            """,
            [
                rule.pk,
                conversation_id,
                rule.trigger_on,
                trigger_point[:160],
                through_communication_id,
                ExecutionStatus.PENDING,
                requested_by_id,
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _created(ids: list[int | None], *, enqueue: bool) -> list[int]:
    made = [pk for pk in ids if pk is not None]
    if enqueue and made:
        transaction.on_commit(wakeup.executions_wake)  # one wake-up covers them all
    return made


def communication_added(
    *, conversation_id: int, communication_id: int, enqueue: bool = True
) -> list[int]:
    """COMMUNICATION triggers: a rule with every_n = N fires at the N-th, 2N-th... communication.

    The trigger point is the conversation's communication count, so the same communication
    delivered twice (or an update of it) computes the same point and creates nothing new.
    Called inside the transaction that stored the communication, which holds the conversation
    row (``conversations.communication_apply``), so counts are consistent; the work is queued
    after commit.
    """
    # One statement (this runs for every communication Twilio sends): count, match the active
    # rules whose N divides the count, insert their executions unless already there.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {RuleExecution._meta.db_table}
                (rule_id, conversation_id, trigger_on, trigger_point, through_communication_id,
                 status, triggered_at, attempts, error, detail)
            SELECT r.id, %s, r.trigger_on, 'COMMUNICATION:' || n.count, %s, %s, %s, 0, '',
                   '{{}}'::jsonb
              FROM {Rule._meta.db_table} r,
                   (SELECT count(*) AS count FROM {_communications_table()}
                     WHERE conversation_id = %s) n
             WHERE r.is_active AND r.trigger_on = %s AND n.count > 0
               AND n.count %% GREATEST(r.every_n, 1) = 0
            ON CONFLICT (rule_id, conversation_id, trigger_point) DO NOTHING
            RETURNING id
            """,
            [
                conversation_id,
                communication_id,
                ExecutionStatus.PENDING,
                timezone.now(),
                conversation_id,
                TriggerOn.COMMUNICATION,
            ],
        )
        ids: list[int | None] = [row[0] for row in cursor.fetchall()]
    return _created(ids, enqueue=enqueue)


def communications_added(
    *, added: Sequence[tuple[int, int, int]], enqueue: bool = True
) -> list[int]:
    """``communication_added`` for a batch of stored communications, in one statement.

    ``added`` holds ``(conversation_id, communication_id, later)``, where ``later`` counts the
    communications of the same conversation stored after this one in the batch: the line's
    trigger point is the conversation's count now minus ``later``, the count it would have seen
    stored alone. The same exactly-once as one at a time: called in the transaction that stored
    them, which holds their conversations' rows (``conversations.communications_apply``).
    """
    if not added:
        return []
    conversations = sorted({conversation for conversation, _, _ in added})
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {RuleExecution._meta.db_table}
                (rule_id, conversation_id, trigger_on, trigger_point, through_communication_id,
                 status, triggered_at, attempts, error, detail)
            SELECT r.id, a.conversation_id, r.trigger_on, 'COMMUNICATION:' || (n.count - a.later),
                   a.communication_id, %(pending)s, %(now)s, 0, '', '{{}}'::jsonb
              FROM {Rule._meta.db_table} r,
                   unnest(%(conversations)s::bigint[], %(communications)s::bigint[],
                          %(later)s::int[]) AS a(conversation_id, communication_id, later)
                   JOIN (SELECT conversation_id, count(*) AS count
                           FROM {_communications_table()}
                          WHERE conversation_id = ANY(%(ids)s::bigint[])
                          GROUP BY conversation_id) n USING (conversation_id)
             WHERE r.is_active AND r.trigger_on = %(trigger_on)s AND n.count - a.later > 0
               AND (n.count - a.later) %% GREATEST(r.every_n, 1) = 0
             ORDER BY a.conversation_id, n.count - a.later, r.id
            ON CONFLICT (rule_id, conversation_id, trigger_point) DO NOTHING
            RETURNING id
            """,
            {
                "pending": ExecutionStatus.PENDING,
                "now": timezone.now(),
                "conversations": [conversation for conversation, _, _ in added],
                "communications": [communication for _, communication, _ in added],
                "later": [later for _, _, later in added],
                "ids": conversations,
                "trigger_on": TriggerOn.COMMUNICATION,
            },
        )
        ids: list[int | None] = [row[0] for row in cursor.fetchall()]
    return _created(ids, enqueue=enqueue)


def conversation_status_seen(
    *, conversation_id: int, status: str, at: datetime | None, enqueue: bool = True
) -> list[int]:
    """CONVERSATION_END once per conversation; CONVERSATION_INACTIVE once per inactive spell."""
    if status == ConversationStatus.CLOSED:
        trigger_on, point = TriggerOn.CONVERSATION_END, "CONVERSATION_END"
    elif status == ConversationStatus.INACTIVE:
        moment = (at or timezone.now()).isoformat()
        trigger_on, point = TriggerOn.CONVERSATION_INACTIVE, f"CONVERSATION_INACTIVE:{moment}"
    else:
        return []
    rules = selectors.active_rules(trigger_on=trigger_on)
    if not rules:
        return []
    through = conversations_selectors.latest_communication_id(conversation_id=conversation_id)
    ids = [
        execution_create(
            rule=rule,
            conversation_id=conversation_id,
            trigger_point=point,
            through_communication_id=through,
        )
        for rule in rules
    ]
    return _created(ids, enqueue=enqueue)


def conversations_status_seen(
    *, seen: Sequence[tuple[int, str, datetime | None]], enqueue: bool = True
) -> list[int]:
    """``conversation_status_seen`` for a batch of ``(conversation_id, status, at)``, in one
    statement: each rule's execution through the conversation's newest communication, unless
    that (rule, conversation, point) already has one. Called in the transaction that applied
    the statuses, with no line of these conversations stored after them in it."""
    points: list[tuple[int, str, str]] = []
    for conversation_id, status, at in seen:
        if status == ConversationStatus.CLOSED:
            points.append((conversation_id, TriggerOn.CONVERSATION_END, "CONVERSATION_END"))
        elif status == ConversationStatus.INACTIVE:
            moment = (at or timezone.now()).isoformat()
            point = f"CONVERSATION_INACTIVE:{moment}"
            points.append((conversation_id, TriggerOn.CONVERSATION_INACTIVE, point))
    if not points:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {RuleExecution._meta.db_table}
                (rule_id, conversation_id, trigger_on, trigger_point, through_communication_id,
                 status, triggered_at, attempts, error, detail)
            SELECT r.id, s.conversation_id, r.trigger_on, s.point,
                   (SELECT max(m.id) FROM {_communications_table()} m
                     WHERE m.conversation_id = s.conversation_id),
                   %(pending)s, %(now)s, 0, '', '{{}}'::jsonb
              FROM unnest(%(conversations)s::bigint[], %(triggers)s::text[], %(points)s::text[])
                   WITH ORDINALITY AS s(conversation_id, trigger_on, point, n)
              JOIN {Rule._meta.db_table} r ON r.is_active AND r.trigger_on = s.trigger_on
             ORDER BY s.n, r.id
            ON CONFLICT (rule_id, conversation_id, trigger_point) DO NOTHING
            RETURNING id
            """,
            {
                "pending": ExecutionStatus.PENDING,
                "now": timezone.now(),
                "conversations": [conversation for conversation, _, _ in points],
                "triggers": [str(trigger) for _, trigger, _ in points],
                "points": [point[:160] for _, _, point in points],
            },
        )
        ids: list[int | None] = [row[0] for row in cursor.fetchall()]
    return _created(ids, enqueue=enqueue)


@transaction.atomic
def rule_run_on_demand(
    *, user: Person, rule_id: int, conversation_id: int, request_key: str = ""
) -> RuleExecution:
    """Run a rule now on one conversation the user may see; one run per request key.

    ``request_key`` comes from the form or the API's Idempotency-Key header: a double click or
    a retried request finds the first execution instead of running twice.
    """
    if not can_use(user, "intelligence_run"):
        raise PermissionDenied("You may not run rules.")
    conversation = (
        conversations_selectors.conversations_of(user=user).filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    rule = Rule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such rule.")
    if not rule.rule_operators.exists():
        raise ValidationFailed({"rule": ["This rule has no operators to run."]})
    requester = signed_in(user)
    key = (request_key or uuid.uuid4().hex)[:100]
    point = f"ON_DEMAND:{key}"
    through = conversations_selectors.latest_communication_id(conversation_id=conversation.pk)
    created = execution_create(
        rule=rule,
        conversation_id=conversation.pk,
        trigger_point=point,
        through_communication_id=through,
        requested_by_id=requester.pk if requester else None,
    )
    if created is not None:
        transaction.on_commit(wakeup.executions_wake)
    return RuleExecution.objects.get(rule=rule, conversation=conversation, trigger_point=point)


def conversations_backfill(
    *, conversation_ids: list[int], run: bool = True, every_point: Iterable[str] = ()
) -> dict[str, int]:
    """Results for conversations that arrived without live triggers (imports, the demo data).

    For each active rule: a COMMUNICATION rule runs once at the last multiple of its N (its
    window is then the whole conversation), an END rule runs if the conversation is closed.
    The trigger points are the live ones, so nothing runs twice if live events follow.

    COMMUNICATION rules whose key is in ``every_point`` run at every multiple of their N, as
    they would have live: "shadow mode", e.g. the suggestions an agent would have seen at each
    turn of a recorded call, to compare with what the agent said.
    """
    shadow = set(every_point)
    made: list[int] = []
    rules = list(Rule.objects.filter(is_active=True).exclude(trigger_on=TriggerOn.ON_DEMAND))
    for conversation in conversations_selectors.conversations_by_id(ids=conversation_ids):
        with transaction.atomic():
            comms = conversations_selectors.communication_ids(conversation_id=conversation.pk)
            for rule in rules:
                if rule.trigger_on == TriggerOn.COMMUNICATION:
                    step = max(rule.every_n, 1)
                    last = len(comms) - len(comms) % step
                    points = range(step, last + 1, step) if rule.key in shadow else [last]
                    for point in points:
                        if not point:
                            continue
                        made.append(
                            execution_create(
                                rule=rule,
                                conversation_id=conversation.pk,
                                trigger_point=f"COMMUNICATION:{point}",
                                through_communication_id=comms[point - 1],
                            )
                            or 0
                        )
                elif (
                    rule.trigger_on == TriggerOn.CONVERSATION_END
                    and conversation.status == ConversationStatus.CLOSED
                ):
                    made.append(
                        execution_create(
                            rule=rule,
                            conversation_id=conversation.pk,
                            trigger_point="CONVERSATION_END",
                            through_communication_id=comms[-1] if comms else None,
                        )
                        or 0
                    )
    ids = [pk for pk in made if pk]
    if run:
        for pk in ids:
            engine.execution_run(execution_id=pk)
    return {"executions": len(ids)}
