"""Running executions: claim one, run its rule's operators, store the results, apply the actions.

See ``execution_run``. Several workers drain at once; each claims a different execution (SKIP
LOCKED); an execution's results, observations, flag and webhook delivery are stored in the
transaction that marks it finished."""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
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
from ..choices import Backend, ExecutionStatus, OperatorKind, ResultStatus
from ..models import ConversationRubric, OperatorResult, ResultSource, Rule, RuleExecution
from ..operators import OperatorContext, OperatorOutput, embedded, run_operator
from ..operators.base import OperatorSpec, PinnedRubric, TranscriptLine
from . import actions, wakeup
from .actions import Stored

logger = logging.getLogger(__name__)


STALE_RUNNING = timedelta(minutes=5)


# A PENDING execution this old lost its message (broker down when it was queued). Not shorter:
# during a backlog every re-queue is a duplicate message the workers must skip.
STALE_PENDING = timedelta(minutes=2)


MAX_ATTEMPTS = 3


# How many executions one drain claims and stores at once. At 600 communications/s the default
# rules make about 1,300 executions/s; a transaction per execution (claim, context, results,
# broadcast, commit: 9 round trips) held one process to 70-150/s. 200 keeps a batch's
# transaction around a fifth of a second on this hardware.
BATCH_SIZE = 200


def executions_drain(
    *, max_seconds: float = 50.0, batch_size: int = BATCH_SIZE, **llm_options: Any
) -> int:
    """Run pending executions, oldest first, until none is left or time is up (then ask for
    another drain). Several workers drain at once: each claims different executions.

    Executions of rules whose operators are all embedded (offline, milliseconds) are claimed,
    run and stored ``batch_size`` at a time (``_batch_run``); those of rules that call a
    language model one at a time, one after each batch, so neither starves the other.
    ``batch_size`` 1 is the one-at-a-time path throughout.
    """
    wakeup.OPERATORS_WAKER.clear()
    deadline = time.monotonic() + max_seconds
    done = 0
    while time.monotonic() < deadline:
        if batch_size <= 1:
            claimed, _ = _execution_run(None, llm_options)
            ran = int(claimed)
        else:
            slow = _model_rules()
            ran = _batch_run(batch_size, llm_options, skip_rules=slow)
            if slow:
                claimed, _ = _execution_run(None, llm_options, only_rules=slow)
                ran += int(claimed)
        if not ran:
            return done
        done += ran
    wakeup.OPERATORS_WAKER.wake()
    return done


def _model_rules() -> list[int]:
    """Rules with an operator that is not embedded (a language model): run one at a time."""
    return [
        rule.pk
        for rule in Rule.objects.only("pk", "updated_at")
        if any(spec.backend != Backend.EMBEDDED for spec in selectors.rule_specs(rule=rule))
    ]


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


def _claim(
    execution_id: int | None,
    *,
    limit: int = 1,
    only_rules: list[int] | None = None,
    skip_rules: list[int] | None = None,
) -> list[_Claimed]:
    """PENDING (or RUNNING but abandoned) -> RUNNING, and everything the runs need to start.

    ``execution_id`` None claims the oldest claimable executions (up to ``limit``, of the
    rules ``only_rules`` if given, not of ``skip_rules``), skipping rows another worker is
    claiming at this moment (SKIP LOCKED), so concurrent drains never wait on each other.

    One statement: the conditional UPDATE (a second worker finds nothing to claim) returns the
    executions, each joined with its rule, its conversation, the conversation's participant
    types and where the rule's previous execution stopped. Rule executions are the hot path of
    live insight (one per communication), and each round trip costs about a millisecond.

    The status literals match the partial index ``execution_claimable_idx`` (whatever the
    parameters): the claim reads only the unfinished executions, not every finished one before
    them in id order.
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
                   AND status IN ('{ExecutionStatus.PENDING}', '{ExecutionStatus.RUNNING}')
                   AND (status = %s OR (status = %s AND started_at < %s))
                   AND (%s::bigint[] IS NULL OR rule_id = ANY(%s::bigint[]))
                   AND NOT (rule_id = ANY(%s::bigint[]))
                 ORDER BY id
                 LIMIT %s
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
             ORDER BY c.id
            """,
            [
                execution_id,
                execution_id,
                ExecutionStatus.PENDING,
                ExecutionStatus.RUNNING,
                now - STALE_RUNNING,
                only_rules,
                only_rules,
                skip_rules or [],
                limit,
                ExecutionStatus.RUNNING,
                now,
            ],
        )
        rows = cursor.fetchall()
    db = connection.alias
    claims = []
    for row in rows:
        values = list(row)
        execution = RuleExecution.from_db(db, execution_names, values[: len(execution_names)])
        del values[: len(execution_names)]
        execution.rule = Rule.from_db(db, rule_names, values[: len(rule_names)])
        del values[: len(rule_names)]
        execution.conversation = conversation_model.from_db(
            db, conversation_names, values[: len(conversation_names)]
        )
        del values[: len(conversation_names)]
        agent_types, previous = values
        claims.append(_Claimed(execution.attempts, execution, list(agent_types or []), previous))
    return claims


def _pins_prefetch(conversation_ids: list[int], batch: _BatchPins) -> None:
    """Load the rubric pins of a batch's conversations in one query (``_rubric_resolver``
    would ask once per conversation); conversations without a pin are left to it."""
    wanted = [pk for pk in set(conversation_ids) if (pk, None) not in _PINS]
    if not wanted:
        return
    batch.read.update(wanted)
    pins = (
        ConversationRubric.objects.filter(conversation_id__in=wanted)
        .select_related("rubric", "version")
        .order_by("pinned_at", "id")
    )
    for pin in pins:
        pinned = _pinned(pin)
        _PINS.setdefault((pin.conversation_id, None), pinned)  # the first pinned
        _PINS.setdefault((pin.conversation_id, pin.rubric.pk), pinned)


@dataclass
class _BatchPins:
    """What a batch learned about rubric pins: the conversations whose pins it has read
    (``_pins_prefetch``), and the ``rubric_id`` settings for which no published rubric exists
    (then every adherence run of the batch is skipped without asking again)."""

    read: set[int] = field(default_factory=set)
    no_rubric: set[Any] = field(default_factory=set)


def _rubric_resolver(conversation_id: int, batch: _BatchPins | None = None) -> Any:
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
        if batch is not None and conversation_id in batch.read and not rubric_id:
            pin = None  # the batch read this conversation's pins: it has none
        else:
            pins = ConversationRubric.objects.filter(
                conversation_id=conversation_id
            ).select_related("rubric", "version")
            if rubric_id:
                pins = pins.filter(rubric_id=int(rubric_id))
            pin = pins.order_by("pinned_at", "id").first()
        if pin is None:
            if batch is not None and rubric_id in batch.no_rubric:
                return None
            rubric = (
                rubrics_selectors.rubric_by_id(pk=int(rubric_id))
                if rubric_id
                else rubrics_selectors.sole_published_rubric()
            )
            if rubric is None:
                if batch is not None:
                    batch.no_rubric.add(rubric_id)
                return None
            version = rubrics_selectors.published_version(rubric=rubric)
            if version is None:
                if batch is not None:
                    batch.no_rubric.add(rubric_id)
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
        pinned = _pinned(pin)
        _PINS[(conversation_id, rubric_id)] = pinned
        return pinned

    return resolve


# Pins never change once made, and pinned versions are frozen: both can be kept per process.
_PINS: dict[tuple[int, Any], PinnedRubric] = {}


def _pinned(pin: ConversationRubric) -> PinnedRubric:
    """What an operator needs of a conversation's pinned rubric; the cache of pins is bounded
    here, where every pin is made."""
    if len(_PINS) > 10_000:
        _PINS.clear()
    return PinnedRubric(
        rubric_id=pin.rubric.pk,
        rubric_name=pin.rubric.name,
        version_id=pin.version.pk,
        version_number=pin.version.number,
        structure=_structure(pin.version),
    )


def _structure(version: Any) -> Any:
    # A pinned version is published or retired, so frozen: its structure is kept per process.
    return rubrics_selectors.frozen_structure(version=version)


def execution_context(
    execution: RuleExecution,
    *,
    agent_types: list[str],
    previous_through: int | None,
    transcript: list[TranscriptLine] | None = None,
    pins: _BatchPins | None = None,
) -> OperatorContext:
    """What the operators see; the participant types and where the rule's previous execution
    stopped come with the claim (``_claim``). ``transcript``: the conversation's lines as a
    batch loaded them (``selectors.transcript_lines_many``), else read here."""
    conversation = execution.conversation
    agent_type = agent_type_of(agent_types)
    lines = (
        transcript
        if transcript is not None
        else selectors.transcript_lines(conversation_id=conversation.pk)
    )
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
        rubric_for=_rubric_resolver(conversation.pk, pins),
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
    execution_id: int | None, llm_options: dict[str, Any], *, only_rules: list[int] | None = None
) -> tuple[bool, str | None]:
    """(whether an execution was claimed, its final status).

    An execution that raises (a bug, data PostgreSQL refuses) is marked FAILED with the error,
    so a drain never picks the same poison again; a lost database connection is left to the
    sweeper and Celery instead.
    """
    claimed_ids: list[int] = []
    try:
        return _execution_attempt(execution_id, llm_options, claimed_ids, only_rules)
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
    execution_id: int | None,
    llm_options: dict[str, Any],
    claimed_ids: list[int],
    only_rules: list[int] | None,
) -> tuple[bool, str | None]:
    with transaction.atomic():
        asynchronous_commit_local()
        claims = _claim(execution_id, only_rules=only_rules)
        if not claims:
            return False, None
        claimed = claims[0]
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


def _batch_run(limit: int, llm_options: dict[str, Any], *, skip_rules: list[int]) -> int:
    """Claim up to ``limit`` executions, run them and store everything in one transaction;
    how many were claimed.

    Set-wise: one statement claims them, one reads the transcripts of all their conversations,
    one the rubric pins; the operators run (embedded: pure computation); one UPDATE marks them
    finished (guarded by status and attempt, as ``execution_finish``), one INSERT stores the
    results, one statement numbers the live events (sent after commit). Flags, webhook
    deliveries and observations are few and stored per execution, in the same transaction.

    If anything in the batch raises (a bug, data PostgreSQL refuses), the transaction is rolled
    back, so nothing was claimed, and the executions are run one at a time (``_execution_run``),
    where the poisoned one fails alone. A lost connection is left to the sweeper, as before.
    A claimed execution whose rule has come to call a language model since the drain looked
    (``_model_rules``) is run after commit, one at a time.
    """
    claimed_ids: list[int] = []
    later: list[tuple[_Claimed, list[OperatorSpec], OperatorContext]] = []
    try:
        with transaction.atomic():
            asynchronous_commit_local()
            claims = _claim(None, limit=limit, skip_rules=skip_rules)
            if not claims:
                return 0
            claimed_ids.extend(claim.execution.pk for claim in claims)
            conversation_ids = [claim.execution.conversation_id for claim in claims]
            transcripts = selectors.transcript_lines_many(conversation_ids=conversation_ids)
            pins = _BatchPins()
            _pins_prefetch(conversation_ids, pins)
            prepared = []
            for claim in claims:
                execution = claim.execution
                ctx = execution_context(
                    execution,
                    agent_types=claim.agent_types,
                    previous_through=claim.previous_through,
                    transcript=transcripts[execution.conversation_id],
                    pins=pins,
                )
                prepared.append((claim, selectors.rule_specs(rule=execution.rule), ctx))
            _searches_prefetch(prepared)
            done: list[_Finished] = []
            for claim, specs, ctx in prepared:
                if all(spec.backend == Backend.EMBEDDED for spec in specs):
                    done.append(_Finished(claim, ctx, _run_all(specs, ctx, llm_options)))
                else:
                    later.append((claim, specs, ctx))
            executions_finish_many(done)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        if not claimed_ids:
            raise
        logger.warning(
            "a batch of %d rule executions failed; running them one at a time",
            len(claimed_ids),
            exc_info=True,
        )
        for pk in claimed_ids:
            _execution_run(pk, llm_options)
        return len(claimed_ids)
    for claim, specs, ctx in later:
        _model_run(claim, specs, ctx, llm_options)
    return len(claimed_ids)


def _searches_prefetch(
    prepared: list[tuple[_Claimed, list[OperatorSpec], OperatorContext]],
) -> None:
    """The knowledge searches a batch's suggestions make, in two statements
    (``knowledge_search_many``): the customers' turns, then, for those that found nothing, the
    turns with what the customers said before (the operator's second try). A search not
    prefetched is made when the operator asks, as before."""
    first: list[tuple[OperatorContext, list[str], int]] = []
    for _, specs, ctx in prepared:
        for spec in specs:
            if spec.kind == OperatorKind.NEXT_BEST_RESPONSE and spec.backend == Backend.EMBEDDED:
                found = embedded.next_best_response_search(spec, ctx)
                if found is not None:
                    first.append((ctx, found[1], found[2]))
    if not first:
        return
    hits = knowledge_selectors.knowledge_search_many(
        (" ".join(words), limit) for _, words, limit in first
    )
    retries = [
        (embedded.next_best_response_retry(ctx, words), limit)
        for ctx, words, limit in first
        if not hits[(" ".join(words), limit)]
    ]
    hits.update(knowledge_selectors.knowledge_search_many(retries))

    def search(query: str, limit: int) -> list[knowledge_selectors.KnowledgeHit]:
        found = hits.get((query, limit))
        if found is None:
            return knowledge_selectors.knowledge_search(query, limit)
        return list(found)

    for _, _, ctx in prepared:
        ctx.knowledge_search = search


def _model_run(
    claim: _Claimed, specs: list[OperatorSpec], ctx: OperatorContext, llm_options: dict[str, Any]
) -> None:
    """A claimed (committed) execution that calls a language model, outside any transaction;
    stored as ``_execution_attempt`` does, failing alone."""
    execution = claim.execution
    try:
        outputs = _run_all(specs, ctx, llm_options)
        with transaction.atomic():
            asynchronous_commit_local()
            execution_finish(execution, attempt=claim.attempt, ctx=ctx, outputs=outputs)
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:
        logger.exception("rule execution %s failed", execution.pk)
        RuleExecution.objects.filter(
            pk=execution.pk, status=ExecutionStatus.RUNNING, attempts=claim.attempt
        ).update(
            status=ExecutionStatus.FAILED,
            finished_at=timezone.now(),
            error=f"internal error: {error!r}"[:5000],
        )


@dataclass
class _Finished:
    claim: _Claimed
    ctx: OperatorContext
    outputs: list[tuple[OperatorSpec, OperatorOutput]]


def executions_finish_many(items: list[_Finished]) -> dict[int, str]:
    """``execution_finish`` for a batch of claimed attempts, set-wise; the final status of
    each execution this batch still held (a guarded UPDATE), by id."""
    if not items:
        return {}
    now = timezone.now()
    marks = []
    for item in items:
        outputs = item.outputs
        marks.append(
            {
                "id": item.claim.execution.pk,
                "attempts": item.claim.attempt,
                "status": _status_of(outputs),
                "error": "\n".join(
                    f"{spec.name}: {output.error}" for spec, output in outputs if output.error
                )[:5000],
                "detail": _detail(item.ctx, outputs),
            }
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {RuleExecution._meta.db_table} x
               SET status = v.status, finished_at = %s, error = v.error, detail = v.detail
              FROM jsonb_to_recordset(%s::jsonb)
                   AS v(id bigint, attempts int, status text, error text, detail jsonb)
             WHERE x.id = v.id AND x.status = %s AND x.attempts = v.attempts
            RETURNING x.id
            """,
            [now, json.dumps(marks), ExecutionStatus.RUNNING],
        )
        held = {row[0] for row in cursor.fetchall()}
    statuses = {mark["id"]: mark["status"] for mark in marks if mark["id"] in held}
    kept = [item for item in items if item.claim.execution.pk in held]
    rows = [
        _result_row(item.claim.execution, spec, output, ctx=item.ctx)
        for item in kept
        if item.claim.execution.rule.store_results
        for spec, output in item.outputs
    ]
    created = iter(_results_insert(rows))
    applied: list[tuple[RuleExecution, list[Stored]]] = []
    changed: list[int] = []
    remember: list[knowledge.Remember] = []
    for item in kept:
        execution = item.claim.execution
        stored: list[Stored] = []
        for spec, output in item.outputs:
            result = next(created) if execution.rule.store_results else None
            stored.append((spec, output, result))
            if output.observations:
                remember.append(
                    knowledge.Remember(
                        conversation_id=execution.conversation_id,
                        texts=output.observations,
                        source=ObservationSource.OPERATOR,
                        operator_result=result,
                        quotes_conversation=output.observations_quote,
                    )
                )
        applied.append((execution, stored))
        if execution.rule.store_results:
            changed.append(execution.conversation_id)
    knowledge.observations_add_many(remember)
    actions.actions_apply_many(applied)
    conversations_changed(changed)
    return statuses


def _results_insert(rows: list[OperatorResult]) -> list[OperatorResult]:
    """``bulk_create`` of a batch's results as one JSON document: one statement, and none of
    the client-side work of binding some 30 parameters per row (a third of a batch's time)."""
    if not rows:
        return rows
    fields = [f for f in OperatorResult._meta.concrete_fields if not f.primary_key]
    document = []
    for row in rows:
        item = {}
        for f in fields:
            value = f.pre_save(row, add=True)  # auto_now(_add) as bulk_create sets them
            item[f.column] = value.isoformat() if isinstance(value, datetime) else value
        document.append(item)
    table = OperatorResult._meta.db_table
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} ({columns})
            SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)
            RETURNING id, result_id
            """,
            [json.dumps(document, cls=DjangoJSONEncoder)],
        )
        ids = dict((result_id, pk) for pk, result_id in cursor.fetchall())
    for row in rows:
        row.pk = ids[row.result_id]
        row._state.adding = False
        row._state.db = connection.alias
    return rows


def _detail(ctx: OperatorContext, outputs: list[tuple[OperatorSpec, OperatorOutput]]) -> Any:
    return {
        "window": len(ctx.window),
        "lines": len(ctx.lines),
        "operators": [spec.key for spec, _ in outputs],
    }


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
    holds the execution (a guarded UPDATE); None when a twin attempt finished it first.

    The batch of one of ``executions_finish_many``: one path stores them all."""
    claim = _Claimed(attempt, execution, [], None)
    return executions_finish_many([_Finished(claim, ctx, outputs)]).get(execution.pk)


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
