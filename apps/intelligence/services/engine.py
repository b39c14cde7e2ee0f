"""Running executions: claim one, run its rule's operators, store the results, apply the actions.

See ``execution_run``. Several workers drain at once; each claims a different execution (SKIP
LOCKED); an execution's results, observations, flag and webhook delivery are stored in the
transaction that marks it finished."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.changes import conversations_changed
from apps.common.db import asynchronous_commit_local
from apps.conversations.choices import ConversationStatus
from apps.knowledge import selectors as knowledge_selectors
from apps.knowledge import services as knowledge
from apps.knowledge.choices import ObservationSource
from apps.rubrics import selectors as rubrics_selectors
from apps.rubrics.checks import agent_type_of

from .. import selectors
from ..choices import Backend, ExecutionStatus, ResultStatus
from ..models import ConversationRubric, OperatorResult, ResultSource, Rule, RuleExecution
from ..operators import OperatorContext, OperatorOutput, run_operator
from ..operators.base import OperatorSpec, PinnedRubric
from . import actions, wakeup

logger = logging.getLogger(__name__)


STALE_RUNNING = timedelta(minutes=5)


# A PENDING execution this old lost its message (broker down when it was queued). Not shorter:
# during a backlog every re-queue is a duplicate message the workers must skip.
STALE_PENDING = timedelta(minutes=2)


MAX_ATTEMPTS = 3


def executions_drain(*, max_seconds: float = 50.0, **llm_options: Any) -> int:
    """Run pending executions, oldest first, until none is left or time is up (then ask for
    another drain). Several workers drain at once: each claims a different execution."""
    wakeup.OPERATORS_WAKER.clear()
    deadline = time.monotonic() + max_seconds
    done = 0
    while time.monotonic() < deadline:
        claimed, _ = _execution_run(None, llm_options)
        if not claimed:
            return done
        done += 1
    wakeup.OPERATORS_WAKER.wake()
    return done


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
        wakeup.OPERATORS_WAKER.clear()  # a flag left by a lost message must not block this wake-up
        wakeup.OPERATORS_WAKER.wake()
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
    # The conversation and its participants come in the same statement, reached through our
    # own foreign key (the conversations app's models are not imported here).
    conversation_model: Any = RuleExecution._meta.get_field("conversation").related_model
    participants = conversation_model._meta.get_field("participants").related_model._meta.db_table
    execution_names, execution_sql = _columns(RuleExecution, "c")
    rule_names, rule_sql = _columns(Rule, "r")
    conversation_names, conversation_sql = _columns(conversation_model, "v")
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
                   ARRAY(SELECT p.type FROM {participants} p
                          WHERE p.conversation_id = c.conversation_id),
                   (SELECT MAX(e.through_communication_id) FROM {executions} e
                     WHERE e.rule_id = c.rule_id AND e.conversation_id = c.conversation_id
                       AND e.id <> c.id
                       AND (c.through_communication_id IS NULL
                            OR e.through_communication_id < c.through_communication_id))
              FROM c
              JOIN {Rule._meta.db_table} r ON r.id = c.rule_id
              JOIN {conversation_model._meta.db_table} v ON v.id = c.conversation_id
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
    execution.conversation = conversation_model.from_db(
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


def _structure(version: Any) -> Any:
    # A pinned version is published or retired, so frozen: its structure is kept per process.
    return rubrics_selectors.frozen_structure(version=version)


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
            execution, agent_types=claimed.agent_types, previous_through=claimed.previous_through
        )
        if all(spec.backend == Backend.EMBEDDED for spec in specs):
            # Offline operators take a millisecond or two: claim, run and store in one
            # transaction (one commit, no fsync: the execution row makes it redoable).
            outputs = _run_all(specs, ctx, llm_options)
            return True, execution_finish(
                execution, attempt=claimed.attempt, ctx=ctx, outputs=outputs
            )
    # A language model may take seconds: the claim is committed, the model is called outside
    # any transaction, and the results are stored in a second one.
    outputs = _run_all(specs, ctx, llm_options)
    with transaction.atomic():
        asynchronous_commit_local()
        return True, execution_finish(execution, attempt=claimed.attempt, ctx=ctx, outputs=outputs)


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


def execution_finish(
    execution: RuleExecution,
    *,
    attempt: int,
    ctx: OperatorContext,
    outputs: list[tuple[OperatorSpec, OperatorOutput]],
) -> str | None:
    """Store a claimed attempt's outputs and apply the rule's actions, if this attempt still
    holds the execution (a guarded UPDATE); None when a twin attempt finished it first."""
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
    actions.actions_apply(execution, stored)
    if rule.store_results:
        conversations_changed([conversation.pk])
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
            # The object, not its id: the partition key (its month) is read from it.
            "conversation": execution.conversation,
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
