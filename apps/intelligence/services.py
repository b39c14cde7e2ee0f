"""Writes of operator results."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.common.db import asynchronous_commit_local
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.common.wake import Waker
from apps.conversations import services as conversations
from apps.conversations.choices import ConversationStatus
from apps.conversations.models import Communication, Conversation, Participant
from apps.knowledge import selectors as knowledge_selectors
from apps.knowledge import services as knowledge
from apps.knowledge.choices import ObservationSource
from apps.live.broadcast import broadcast_on_commit
from apps.live.groups import conversation_group
from apps.rubrics import selectors as rubrics_selectors
from apps.rubrics.checks import agent_type_of

from . import builtins, selectors
from .choices import (
    Backend,
    ConditionOp,
    DeliveryStatus,
    ExecutionStatus,
    FlagStatus,
    ResultStatus,
    TriggerOn,
)
from .models import (
    ConversationRubric,
    Flag,
    Operator,
    OperatorResult,
    OperatorVersion,
    OutputFormat,
    ResultSource,
    Rule,
    RuleExecution,
    RuleOperator,
    WebhookDelivery,
)
from .operators import OperatorContext, OperatorOutput, run_operator
from .operators.base import OperatorSpec, PinnedRubric

logger = logging.getLogger(__name__)

# Older formats some senders still use; mapped onto the current four (twilio-wire §2.5).
_LEGACY_FORMATS = {"GENERATION": OutputFormat.TEXT}


def output_format_normalise(value: str) -> str | None:
    upper = (value or "").upper()
    if upper in OutputFormat.values:
        return upper
    return _LEGACY_FORMATS.get(upper)


def result_normalise(output_format: str, result: Any) -> Any:
    """A TEXT result always as ``{"text": ...}`` (twilio-wire §2.5), so readers need one shape.

    Some senders post a bare string; legacy GENERATION results (stored as TEXT) wrap it as
    ``{"result": ...}``.
    """
    if output_format != OutputFormat.TEXT:
        return result
    if isinstance(result, str):
        return {"text": result}
    if isinstance(result, dict) and "text" not in result and isinstance(result.get("result"), str):
        return {"text": result["result"], **{k: v for k, v in result.items() if k != "result"}}
    return result


@dataclass(frozen=True)
class OperatorResultInput:
    result_id: str
    conversation_twilio_id: str
    operator_id: str
    output_format: str
    result: Any
    operator_name: str = ""
    operator_version: str = ""
    operator_parameters: Any = None
    account_id: str = ""
    configuration_id: str = ""
    configuration_name: str = ""
    configuration_version: str = ""
    rule_id: str = ""
    trigger_on: str = ""
    trigger_at: datetime | None = None
    communication_first: str = ""
    communication_last: str = ""
    channels: list[str] = field(default_factory=list)
    reference_ids: list[str] = field(default_factory=list)
    participants: list[Any] = field(default_factory=list)
    execution_details: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    date_created: datetime | None = None
    source: str = ResultSource.TWILIO


def _call_sid(reference_ids: list[str]) -> str:
    # Several CA… may appear (transfers); the last one is the current leg (twilio-wire §2.8).
    calls = [ref for ref in reference_ids if ref.startswith("CA")]
    return calls[-1] if calls else ""


@transaction.atomic
def operator_result_store(data: OperatorResultInput) -> tuple[OperatorResult, bool]:
    """Store one result once; results are immutable, so a second delivery changes nothing."""
    existing = OperatorResult.objects.filter(result_id=data.result_id).first()
    if existing is not None:
        return existing, False
    conversation = conversations.conversation_ensure(
        twilio_id=data.conversation_twilio_id, account_id=data.account_id, at=data.trigger_at
    )
    call_sid = _call_sid(data.reference_ids)
    if call_sid:
        conversations.call_link(call_sid=call_sid, conversation=conversation)
    result, created = OperatorResult.objects.get_or_create(
        result_id=data.result_id,
        defaults={
            "source": data.source,
            "conversation": conversation,
            "call_sid": call_sid,
            "account_id": data.account_id,
            "configuration_id": data.configuration_id,
            "configuration_name": data.configuration_name,
            "configuration_version": data.configuration_version,
            "rule_id": data.rule_id,
            "operator_id": data.operator_id,
            "operator_name": data.operator_name,
            "operator_version": data.operator_version,
            "operator_parameters": data.operator_parameters,
            "output_format": data.output_format,
            "result": result_normalise(data.output_format, data.result),
            "trigger_on": data.trigger_on,
            "trigger_at": data.trigger_at,
            "communication_first": data.communication_first,
            "communication_last": data.communication_last,
            "channels": data.channels,
            "reference_ids": data.reference_ids,
            "participants": data.participants,
            "execution_details": data.execution_details,
            "metadata": data.metadata,
            "date_created": data.date_created,
        },
    )
    return result, created


# ---------------------------------------------------------------------------------------------
# ccportal's own operators: defaults, triggers, executions, actions.
# ---------------------------------------------------------------------------------------------

STALE_RUNNING = timedelta(minutes=5)
# A PENDING execution this old lost its message (broker down when it was queued). Not shorter:
# during a backlog every re-queue is a duplicate message the workers must skip.
STALE_PENDING = timedelta(minutes=2)
MAX_ATTEMPTS = 3


def _drain_task() -> Any:
    from . import tasks

    return tasks.drain_executions


# Pending executions are the queue; one wake-up message per burst, not one per execution (a
# Celery publish per communication cost the ingest workers two thirds of their throughput).
OPERATORS_WAKER = Waker(
    key="ccportal:operators:wake", ttl_ms=2000, task=_drain_task, what="operator workers"
)


def _enqueue_execution() -> None:
    """After commit: make sure a worker drains the pending executions (this one among them)."""
    OPERATORS_WAKER.wake()


def executions_drain(*, max_seconds: float = 50.0, **llm_options: Any) -> int:
    """Run pending executions, oldest first, until none is left or time is up (then ask for
    another drain). Several workers drain at once: each claims a different execution."""
    OPERATORS_WAKER.clear()
    deadline = time.monotonic() + max_seconds
    done = 0
    while time.monotonic() < deadline:
        claimed, _ = _execution_run(None, llm_options)
        if not claimed:
            return done
        done += 1
    OPERATORS_WAKER.wake()
    return done


@transaction.atomic
def defaults_ensure() -> dict[str, int]:
    """Create the built-in operators and default rules that are missing (never overwrites)."""
    created = {"operators": 0, "rules": 0}
    operators: dict[str, Operator] = {}
    for spec in builtins.BUILTIN_OPERATORS:
        operator, new = Operator.objects.get_or_create(
            key=spec["key"],
            defaults={
                "name": spec["name"],
                "kind": spec["kind"],
                "description": spec["description"],
                "is_builtin": True,
            },
        )
        if not operator.versions.exists():
            OperatorVersion.objects.create(
                operator=operator,
                number=1,
                backend=Backend.EMBEDDED,
                parameters=spec["parameters"],
                output_format=builtins.FORMAT_BY_KIND[spec["kind"]],
                output_schema=builtins.SCHEMAS_BY_KIND[spec["kind"]],
                note="Built in",
            )
        created["operators"] += int(new)
        operators[operator.key] = operator
    for spec in builtins.DEFAULT_RULES:
        rule, new = Rule.objects.get_or_create(
            key=spec["key"],
            defaults={
                "name": spec["name"],
                "description": spec["description"],
                "trigger_on": spec["trigger_on"],
                "every_n": spec["every_n"],
                "broadcast": spec["broadcast"],
            },
        )
        if new:
            for position, key in enumerate(spec["operators"]):
                RuleOperator.objects.create(rule=rule, operator=operators[key], position=position)
        created["rules"] += int(new)
    return created


def _execution_create(
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
        transaction.on_commit(_enqueue_execution)  # one wake-up covers them all
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
                   (SELECT count(*) AS count FROM {Communication._meta.db_table}
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
    through = (
        Communication.objects.filter(conversation_id=conversation_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    ids = [
        _execution_create(
            rule=rule,
            conversation_id=conversation_id,
            trigger_point=point,
            through_communication_id=through,
        )
        for rule in rules
    ]
    return _created(ids, enqueue=enqueue)


@transaction.atomic
def rule_run_on_demand(
    *, user: Any, rule_id: int, conversation_id: int, request_key: str = ""
) -> RuleExecution:
    """Run a rule now on one conversation the user may see; one run per request key.

    ``request_key`` comes from the form or the API's Idempotency-Key header: a double click or
    a retried request finds the first execution instead of running twice.
    """
    if not can_use(user, "intelligence_run"):
        raise PermissionDenied("You may not run rules.")
    conversation = Conversation.objects.for_user(user).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    rule = Rule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such rule.")
    if not rule.rule_operators.exists():
        raise ValidationFailed({"rule": ["This rule has no operators to run."]})
    key = (request_key or uuid.uuid4().hex)[:100]
    point = f"ON_DEMAND:{key}"
    through = (
        Communication.objects.filter(conversation_id=conversation.pk)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    created = _execution_create(
        rule=rule,
        conversation_id=conversation.pk,
        trigger_point=point,
        through_communication_id=through,
        requested_by_id=user.pk,
    )
    if created is not None:
        transaction.on_commit(_enqueue_execution)
    return RuleExecution.objects.get(rule=rule, conversation=conversation, trigger_point=point)


def conversations_backfill(*, conversation_ids: list[int], run: bool = True) -> dict[str, int]:
    """Results for conversations that arrived without live triggers (imports, the demo data).

    For each active rule: a COMMUNICATION rule runs once at the last multiple of its N (its
    window is then the whole conversation), an END rule runs if the conversation is closed.
    The trigger points are the live ones, so nothing runs twice if live events follow.
    """
    made: list[int] = []
    rules = list(Rule.objects.filter(is_active=True).exclude(trigger_on=TriggerOn.ON_DEMAND))
    for conversation in Conversation.objects.filter(pk__in=conversation_ids).order_by("pk"):
        with transaction.atomic():
            comms = list(
                Communication.objects.filter(conversation=conversation)
                .order_by("id")
                .values_list("id", flat=True)
            )
            for rule in rules:
                if rule.trigger_on == TriggerOn.COMMUNICATION:
                    point = len(comms) - len(comms) % max(rule.every_n, 1)
                    if not point:
                        continue
                    made.append(
                        _execution_create(
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
                        _execution_create(
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
            execution_run(execution_id=pk)
    return {"executions": len(ids)}


def execution_sweep() -> dict[str, int]:
    """Safety net (beat): wake the workers for executions whose wake-up was lost (Redis or the
    broker down) or whose worker died; give up on those past their attempts."""
    now = timezone.now()
    give_up = RuleExecution.objects.filter(
        status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING],
        attempts__gte=MAX_ATTEMPTS,
        triggered_at__lt=now - STALE_RUNNING,
    ).update(status=ExecutionStatus.FAILED, finished_at=now, error="Gave up after retries.")
    stuck = list(
        RuleExecution.objects.filter(
            Q(status=ExecutionStatus.PENDING, triggered_at__lt=now - STALE_PENDING)
            | Q(status=ExecutionStatus.RUNNING, started_at__lt=now - STALE_RUNNING),
            attempts__lt=MAX_ATTEMPTS,
        ).values_list("pk", flat=True)[:1000]
    )
    if stuck:
        OPERATORS_WAKER.clear()  # a flag left by a lost message must not block this wake-up
        OPERATORS_WAKER.wake()
    return {"requeued": len(stuck), "failed": give_up}


@dataclass
class _Claimed:
    attempt: int
    execution: RuleExecution
    agent_types: list[str]
    previous_through: int | None


def _columns(model: Any, alias: str) -> tuple[list[str], str]:
    fields = [f for f in model._meta.concrete_fields]
    names = [f.attname for f in fields]
    sql = ", ".join(f'{alias}."{f.column}"' for f in fields)
    return names, sql


def _claim(execution_id: int | None) -> _Claimed | None:
    """PENDING (or RUNNING but abandoned) -> RUNNING, and everything the run needs to start.

    ``execution_id`` None claims the oldest claimable execution, skipping rows another worker
    is claiming at this moment (SKIP LOCKED), so concurrent drains never wait on each other.

    One statement: the conditional UPDATE (a second worker finds nothing to claim) returns the
    execution, joined with its rule, its conversation, the conversation's participant types
    and where the rule's previous execution stopped. Rule executions are the hot path of
    live insight (one per communication), and each round trip costs about a millisecond.
    """
    now = timezone.now()
    execution_names, execution_sql = _columns(RuleExecution, "c")
    rule_names, rule_sql = _columns(Rule, "r")
    conversation_names, conversation_sql = _columns(Conversation, "v")
    executions = RuleExecution._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH t AS (
                SELECT id FROM {executions}
                 WHERE (%s::bigint IS NULL OR id = %s::bigint)
                   AND (status = %s OR (status = %s AND started_at < %s))
                 ORDER BY id
                 LIMIT 1
                   FOR UPDATE SKIP LOCKED
            ), c AS (
                UPDATE {executions} x
                   SET status = %s, started_at = %s, attempts = x.attempts + 1
                  FROM t
                 WHERE x.id = t.id
                RETURNING x.*
            )
            SELECT {execution_sql}, {rule_sql}, {conversation_sql},
                   ARRAY(SELECT p.type FROM {Participant._meta.db_table} p
                          WHERE p.conversation_id = c.conversation_id),
                   (SELECT MAX(e.through_communication_id) FROM {executions} e
                     WHERE e.rule_id = c.rule_id AND e.conversation_id = c.conversation_id
                       AND e.id <> c.id
                       AND (c.through_communication_id IS NULL
                            OR e.through_communication_id < c.through_communication_id))
              FROM c
              JOIN {Rule._meta.db_table} r ON r.id = c.rule_id
              JOIN {Conversation._meta.db_table} v ON v.id = c.conversation_id
            """,
            [
                execution_id,
                execution_id,
                ExecutionStatus.PENDING,
                ExecutionStatus.RUNNING,
                now - STALE_RUNNING,
                ExecutionStatus.RUNNING,
                now,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    db = connection.alias
    execution = RuleExecution.from_db(db, execution_names, values[: len(execution_names)])
    del values[: len(execution_names)]
    execution.rule = Rule.from_db(db, rule_names, values[: len(rule_names)])
    del values[: len(rule_names)]
    execution.conversation = Conversation.from_db(
        db, conversation_names, values[: len(conversation_names)]
    )
    del values[: len(conversation_names)]
    agent_types, previous = values
    return _Claimed(execution.attempts, execution, list(agent_types or []), previous)


def _rubric_resolver(conversation_id: int) -> Any:
    """The rubric a Script Adherence run judges by, pinned to the conversation at first use.

    The operator's ``rubric_id`` names the rubric; without one, a rubric already pinned to the
    conversation, else the only rubric with a published version. The pin (PROTECT) keeps the
    version: publishing v2 later does not change how this conversation is judged.
    """

    def resolve(spec: OperatorSpec) -> PinnedRubric | None:
        rubric_id = spec.parameters.get("rubric_id")
        cached = _PINS.get((conversation_id, rubric_id))
        if cached is not None:
            return cached
        pins = ConversationRubric.objects.filter(conversation_id=conversation_id).select_related(
            "rubric", "version"
        )
        if rubric_id:
            pins = pins.filter(rubric_id=int(rubric_id))
        pin = pins.order_by("pinned_at", "id").first()
        if pin is None:
            rubric = (
                rubrics_selectors.rubric_by_id(pk=int(rubric_id))
                if rubric_id
                else rubrics_selectors.sole_published_rubric()
            )
            if rubric is None:
                return None
            version = rubrics_selectors.published_version(rubric=rubric)
            if version is None:
                return None
            try:
                with transaction.atomic():
                    pin = ConversationRubric.objects.create(
                        conversation_id=conversation_id, rubric=rubric, version=version
                    )
            except IntegrityError:  # another execution pinned it first
                pin = ConversationRubric.objects.select_related("rubric", "version").get(
                    conversation_id=conversation_id, rubric=rubric
                )
        pinned = PinnedRubric(
            rubric_id=pin.rubric.pk,
            rubric_name=pin.rubric.name,
            version_id=pin.version.pk,
            version_number=pin.version.number,
            structure=_structure(pin.version),
        )
        if len(_PINS) > 10_000:
            _PINS.clear()
        _PINS[(conversation_id, rubric_id)] = pinned
        return pinned

    return resolve


# Pins never change once made, and pinned versions are frozen: both can be kept per process.
_PINS: dict[tuple[int, Any], PinnedRubric] = {}
_STRUCTURES: dict[int, Any] = {}


def _structure(version: Any) -> Any:
    # A pinned version is published or retired, so frozen: its structure can be kept.
    structure = _STRUCTURES.get(version.pk)
    if structure is None:
        structure = rubrics_selectors.version_structure(version=version)
        if len(_STRUCTURES) > 256:
            _STRUCTURES.clear()
        _STRUCTURES[version.pk] = structure
    return structure


def execution_context(
    execution: RuleExecution, *, agent_types: list[str], previous_through: int | None
) -> OperatorContext:
    """What the operators see; the participant types and where the rule's previous execution
    stopped come with the claim (``_claim``)."""
    conversation = execution.conversation
    agent_type = agent_type_of(agent_types)
    lines = selectors.transcript_lines(conversation_id=conversation.pk)
    through = execution.through_communication_id
    previous = previous_through
    window = [
        line
        for line in lines
        if (previous is None or line.pk > previous) and (through is None or line.pk <= through)
    ]
    complete = True
    if through is not None:
        seen = len(lines)
        lines = [line for line in lines if line.pk <= through]
        complete = len(lines) == seen
    return OperatorContext(
        conversation_id=conversation.pk,
        conversation_twilio_id=conversation.twilio_id,
        lines=lines,
        window=window,
        # Final: the conversation has ended and this run sees all of it (a run for an earlier
        # trigger point that executes late still judges the conversation as it was then).
        final=conversation.status == ConversationStatus.CLOSED and complete,
        trigger_on=execution.trigger_on,
        agent_type=agent_type,
        memory_loader=functools.partial(_memory, conversation.pk),
        started_at=conversation.started_at,
        knowledge_search=knowledge_selectors.knowledge_search,
        rubric_for=_rubric_resolver(conversation.pk),
    )


def _memory(conversation_id: int) -> list[str]:
    # Linking first: a returning customer's observations from earlier conversations count.
    knowledge.profiles_link(conversation_id=conversation_id)
    return knowledge_selectors.memory_for_conversation(conversation_id=conversation_id)


def execution_run(*, execution_id: int | None, **llm_options: Any) -> str | None:
    """Run one execution's operators and apply the rule's actions; safe to call twice.

    ``execution_id`` None runs the oldest pending execution (the drain). Returns the final
    status, or None when there was nothing to claim (finished, or another worker has it).

    Claimed with a conditional UPDATE (a second worker finds it taken). Operators run outside
    any transaction (a language model may take seconds); the results, observations, flag and
    webhook delivery are stored in one transaction that also marks the execution finished, so
    a crash in between leaves it RUNNING for the sweeper and never half-stored.
    """
    return _execution_run(execution_id, llm_options)[1]


def _execution_run(
    execution_id: int | None, llm_options: dict[str, Any]
) -> tuple[bool, str | None]:
    """(whether an execution was claimed, its final status).

    An execution that raises (a bug, data PostgreSQL refuses) is marked FAILED with the error,
    so a drain never picks the same poison again; a lost database connection is left to the
    sweeper and Celery instead.
    """
    claimed_ids: list[int] = []
    try:
        return _execution_attempt(execution_id, llm_options, claimed_ids)
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:
        if not claimed_ids:
            raise
        logger.exception("rule execution %s failed", claimed_ids[0])
        RuleExecution.objects.filter(pk=claimed_ids[0]).update(
            status=ExecutionStatus.FAILED,
            finished_at=timezone.now(),
            error=f"internal error: {error!r}"[:5000],
        )
        return True, ExecutionStatus.FAILED


def _execution_attempt(
    execution_id: int | None, llm_options: dict[str, Any], claimed_ids: list[int]
) -> tuple[bool, str | None]:
    with transaction.atomic():
        asynchronous_commit_local()
        claimed = _claim(execution_id)
        if claimed is None:
            return False, None
        claimed_ids.append(claimed.execution.pk)
        execution = claimed.execution
        specs = selectors.rule_specs(rule=execution.rule)
        ctx = execution_context(
            execution,
            agent_types=claimed.agent_types,
            previous_through=claimed.previous_through,
        )
        if all(spec.backend == Backend.EMBEDDED for spec in specs):
            # Offline operators take a millisecond or two: claim, run and store in one
            # transaction (one commit, no fsync: the execution row makes it redoable).
            outputs = _run_all(specs, ctx, llm_options)
            return True, _execution_finish(
                execution, attempt=claimed.attempt, ctx=ctx, outputs=outputs
            )
    # A language model may take seconds: the claim is committed, the model is called outside
    # any transaction, and the results are stored in a second one.
    outputs = _run_all(specs, ctx, llm_options)
    with transaction.atomic():
        asynchronous_commit_local()
        return True, _execution_finish(execution, attempt=claimed.attempt, ctx=ctx, outputs=outputs)


def _run_all(
    specs: list[OperatorSpec], ctx: OperatorContext, llm_options: dict[str, Any]
) -> list[tuple[OperatorSpec, OperatorOutput]]:
    outputs = []
    for spec in specs:
        output = run_operator(spec, ctx, **llm_options)
        if output is not None:
            outputs.append((spec, output))
    return outputs


def _status_of(outputs: list[tuple[OperatorSpec, OperatorOutput]]) -> str:
    if not outputs:
        return ExecutionStatus.SKIPPED
    errors = sum(1 for _, output in outputs if output.status == ResultStatus.ERROR)
    if errors == len(outputs):
        return ExecutionStatus.FAILED
    return ExecutionStatus.PARTIAL if errors else ExecutionStatus.SUCCEEDED


def _execution_finish(
    execution: RuleExecution,
    *,
    attempt: int,
    ctx: OperatorContext,
    outputs: list[tuple[OperatorSpec, OperatorOutput]],
) -> str | None:
    now = timezone.now()
    status = _status_of(outputs)
    errors = [f"{spec.name}: {output.error}" for spec, output in outputs if output.error]
    finished = RuleExecution.objects.filter(
        pk=execution.pk, status=ExecutionStatus.RUNNING, attempts=attempt
    ).update(
        status=status,
        finished_at=now,
        error="\n".join(errors)[:5000],
        detail={
            "window": len(ctx.window),
            "lines": len(ctx.lines),
            "operators": [spec.key for spec in (s for s, _ in outputs)],
        },
    )
    if not finished:  # a slower twin of this attempt lost the race; keep the winner's work
        return None
    rule = execution.rule
    conversation = execution.conversation
    rows = (
        OperatorResult.objects.bulk_create(
            [_result_row(execution, spec, output, ctx=ctx) for spec, output in outputs]
        )
        if rule.store_results
        else [None] * len(outputs)
    )
    stored: list[tuple[OperatorSpec, OperatorOutput, OperatorResult | None]] = []
    for (spec, output), result in zip(outputs, rows, strict=True):
        stored.append((spec, output, result))
        if output.observations:
            knowledge.observations_add(
                conversation_id=conversation.pk,
                texts=output.observations,
                source=ObservationSource.OPERATOR,
                operator_result=result,
                quotes_conversation=output.observations_quote,
            )
    flag = _flag_apply(execution, stored) if rule.flag else None
    if rule.webhook_url:
        _delivery_create(execution, stored, flag=flag)
    if rule.broadcast:
        broadcast_on_commit(
            conversation_group(conversation.pk),
            "insights",
            {
                "conversation": conversation.pk,
                "rule": rule.pk,
                "execution": execution.pk,
                "operators": [spec.key for spec, _, _ in stored],
                "flag": flag.pk if flag else None,
            },
        )
    return status


def _result_row(
    execution: RuleExecution, spec: OperatorSpec, output: OperatorOutput, *, ctx: OperatorContext
) -> OperatorResult:
    """An unsaved result. Inserted in the transaction that finishes the claimed attempt, so an
    earlier attempt's rows were rolled back with it (the unique result_id still guards)."""
    window = ctx.window or ctx.lines
    result_id = f"ccportal_operatorresult_{execution.pk}_{spec.operator_id}"
    row = OperatorResult(
        result_id=result_id,
        **{
            "source": ResultSource.CCPORTAL,
            "conversation_id": execution.conversation_id,
            "configuration_id": "ccportal",
            "configuration_name": "ccportal rules",
            "rule_id": f"ccportal_rule_{execution.rule_id}",
            "operator_id": f"ccportal_operator_{spec.key}",
            "operator_name": spec.name,
            "operator_version": str(spec.number),
            "operator_parameters": spec.parameters or None,
            "output_format": spec.output_format,
            "result": output.result,
            "trigger_on": execution.trigger_on,
            "trigger_at": execution.triggered_at,
            "communication_first": window[0].twilio_id if window else "",
            "communication_last": window[-1].twilio_id if window else "",
            "reference_ids": list(execution.conversation.call_sids or []),
            "execution_details": {
                "trigger": {
                    "on": execution.trigger_on,
                    "timestamp": execution.triggered_at.isoformat(),
                    "point": execution.trigger_point,
                },
                "communications": {
                    "first": window[0].twilio_id if window else None,
                    "last": window[-1].twilio_id if window else None,
                },
                "backend": spec.backend,
            },
            "metadata": {"system": output.system} if output.system else {},
            "date_created": timezone.now(),
            "definition_id": spec.version_id,
            "execution": execution,
            "rubric_version_id": output.rubric_version_id,
            "status": output.status,
            "error": output.error[:5000],
            "raw_output": output.raw_output[:20_000],
        },
    )
    return row


def _field(value: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def condition_holds(*, result: Any, field: str, op: str, expected: str) -> bool:
    """A rule's flag condition on one result: ``field`` (dotted path) ``op`` ``expected``."""
    value = _field(result, field) if field else result
    if op == ConditionOp.ANY:
        return value not in (None, "", [], {})
    if op in (ConditionOp.LESS_THAN, ConditionOp.GREATER_THAN):
        try:
            number, bound = float(value), float(expected)
        except (TypeError, ValueError):
            return False
        return number < bound if op == ConditionOp.LESS_THAN else number > bound
    if op == ConditionOp.CONTAINS:
        if isinstance(value, list):
            return any(str(item).lower() == expected.lower() for item in value)
        return expected.lower() in str(value or "").lower()
    same = str(value).lower() == expected.lower()
    return same if op == ConditionOp.EQUALS else not same


def _flag_apply(
    execution: RuleExecution,
    stored: list[tuple[OperatorSpec, OperatorOutput, OperatorResult | None]],
) -> Flag | None:
    rule = execution.rule
    trigger: OperatorResult | None = None
    if rule.flag_operator_id is not None:
        match = next(
            (
                (output, result)
                for spec, output, result in stored
                if spec.operator_id == rule.flag_operator_id and output.status == ResultStatus.OK
            ),
            None,
        )
        if match is None:
            return None
        output, trigger = match
        if not condition_holds(
            result=output.result,
            field=rule.flag_field,
            op=rule.flag_op or ConditionOp.ANY,
            expected=rule.flag_value,
        ):
            return None
    reason = rule.flag_reason or f"Raised by rule “{rule.name}”"
    existing = (
        Flag.objects.select_for_update()
        .filter(conversation_id=execution.conversation_id, rule=rule, status=FlagStatus.OPEN)
        .first()
    )
    if existing is not None:
        if existing.execution_id != execution.pk:
            Flag.objects.filter(pk=existing.pk).update(
                raised_count=F("raised_count") + 1,
                execution=execution,
                operator_result=trigger,
                reason=reason,
                updated_at=timezone.now(),
            )
        return existing
    try:
        with transaction.atomic():
            return Flag.objects.create(
                conversation_id=execution.conversation_id,
                rule=rule,
                execution=execution,
                operator_result=trigger,
                reason=reason,
            )
    except IntegrityError:  # raised by a concurrent execution of the same rule
        return Flag.objects.filter(
            conversation_id=execution.conversation_id, rule=rule, status=FlagStatus.OPEN
        ).first()


def webhook_payload(
    execution: RuleExecution,
    stored: list[tuple[OperatorSpec, OperatorOutput, OperatorResult | None]],
    *,
    flag: Flag | None,
) -> dict[str, Any]:
    """The rule's webhook body, in Twilio's rule-execution shape (twilio-wire §2.3) plus ours."""
    conversation = execution.conversation
    items = []
    for spec, output, result in stored:
        items.append(
            {
                "id": result.result_id
                if result
                else f"ccportal_operatorresult_{execution.pk}_{spec.operator_id}",
                "operator": {
                    "id": f"ccportal_operator_{spec.key}",
                    "displayName": spec.name,
                    "version": spec.number,
                    "parameters": spec.parameters or None,
                },
                "outputFormat": spec.output_format,
                "result": output.result,
                "status": output.status,
                "error": output.error or None,
                "referenceIds": list(conversation.call_sids or []),
                "executionDetails": {
                    "trigger": {
                        "on": execution.trigger_on,
                        "timestamp": execution.triggered_at.isoformat(),
                    }
                },
                "metadata": {"system": output.system},
            }
        )
    return {
        "accountId": conversation.account_id,
        "conversationId": conversation.twilio_id,
        "intelligenceConfiguration": {
            "id": "ccportal",
            "displayName": "ccportal rules",
            "ruleId": f"ccportal_rule_{execution.rule_id}",
        },
        "operatorResults": items,
        "ccportal": {
            "conversation": conversation.pk,
            "rule": {"id": execution.rule_id, "name": execution.rule.name},
            "execution": execution.pk,
            "triggerPoint": execution.trigger_point,
            "flag": None if flag is None else {"id": flag.pk, "reason": flag.reason},
        },
    }


def _delivery_create(
    execution: RuleExecution,
    stored: list[tuple[OperatorSpec, OperatorOutput, OperatorResult | None]],
    *,
    flag: Flag | None,
) -> None:
    delivery, created = WebhookDelivery.objects.get_or_create(
        execution=execution,
        url=execution.rule.webhook_url,
        defaults={
            "payload": json.loads(
                json.dumps(webhook_payload(execution, stored, flag=flag), default=str)
            )
        },
    )
    if created:
        from . import tasks

        transaction.on_commit(lambda: _safe_delay(tasks.webhook_deliver, delivery.pk))


def _safe_delay(task: Any, *args: Any) -> None:
    try:
        task.apply_async(args=list(args), retry=False)
    except Exception:
        logger.warning("could not enqueue %s%r", task.name, args)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>``, checked by the receiver."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class DeliveryRetry(Exception):
    """The receiver did not take the webhook; try again later."""


def webhook_deliver(*, delivery_id: int, final_attempt: bool = False) -> str | None:
    """POST one delivery, signed; 2xx settles it, anything else is retried by the task."""
    delivery = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .exclude(status=DeliveryStatus.DELIVERED)
        .first()
    )
    if delivery is None:
        return None
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ccportal-webhooks/1",
        "X-Ccportal-Delivery": str(delivery.pk),
        "X-Ccportal-Event": "rule.execution",
    }
    secret = settings.INTELLIGENCE_WEBHOOK_SECRET
    if secret:
        headers["X-Ccportal-Signature"] = webhook_signature(
            secret=secret, timestamp=timestamp, body=body
        )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    try:
        response = requests.post(
            delivery.url,
            data=body,
            headers=headers,
            timeout=settings.INTELLIGENCE_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        _delivery_failed(delivery, None, f"{type(error).__name__}: {error}", final_attempt)
        raise DeliveryRetry(str(error)) from error
    if 200 <= response.status_code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DELIVERED,
            response_status=response.status_code,
            delivered_at=timezone.now(),
            updated_at=timezone.now(),
            last_error="",
        )
        return DeliveryStatus.DELIVERED
    message = f"HTTP {response.status_code}: {response.text[:500]}"
    _delivery_failed(delivery, response.status_code, message, final_attempt)
    raise DeliveryRetry(message)


def _delivery_failed(
    delivery: WebhookDelivery, status_code: int | None, message: str, final: bool
) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        response_status=status_code,
        last_error=message[:2000],
        status=DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
        updated_at=timezone.now(),
    )


# A delivery never tried this long after it was made lost its message (broker down when it was
# queued); one tried and waiting longer than the longest retry pause (tasks: 600 s) lost its
# retry (a worker died holding it). The receiver dedupes on X-Ccportal-Delivery if a slow
# retry and the sweeper's overlap.
DELIVERY_UNSENT = timedelta(minutes=2)
DELIVERY_STALLED = timedelta(minutes=15)
DELIVERY_MAX_ATTEMPTS = 7  # the task's first attempt and its 6 retries


def delivery_sweep() -> dict[str, int]:
    """Safety net (beat): re-enqueue pending deliveries whose message was lost; give up on
    those past their attempts."""
    now = timezone.now()
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
    failed = pending.filter(
        attempts__gte=DELIVERY_MAX_ATTEMPTS, updated_at__lt=now - DELIVERY_STALLED
    ).update(
        status=DeliveryStatus.FAILED,
        last_error="Gave up: no attempt succeeded.",
        updated_at=now,
    )
    lost = list(
        pending.filter(
            Q(attempts=0, updated_at__lt=now - DELIVERY_UNSENT)
            | Q(attempts__gt=0, updated_at__lt=now - DELIVERY_STALLED),
            attempts__lt=DELIVERY_MAX_ATTEMPTS,
        )
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )
    if lost:
        # Marked first, so the next sweep does not queue them again while these wait.
        WebhookDelivery.objects.filter(pk__in=lost).update(updated_at=now)
        from . import tasks

        for pk in lost:
            _safe_delay(tasks.webhook_deliver, pk)
    return {"requeued": len(lost), "failed": failed}
