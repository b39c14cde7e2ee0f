"""The set-wise drain (``executions_drain`` claiming and storing a batch at a time): the same
results as one at a time, a poisoned execution failing alone, concurrent workers never running
an execution twice, a second drain changing nothing, language-model rules still run."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.audit.models import CustomerProfileEvent, ObservationEvent
from apps.conversations.models import Conversation
from apps.demo.services import conversation_twilio_id, demo_intelligence_load, demo_load
from apps.intelligence import services
from apps.intelligence.choices import Backend, ExecutionStatus, OperatorKind
from apps.intelligence.models import (
    Flag,
    Operator,
    OperatorResult,
    OperatorVersion,
    Rule,
    RuleExecution,
    RuleOperator,
    WebhookDelivery,
)
from apps.intelligence.operators import OperatorOutput, embedded
from apps.knowledge.models import Observation
from apps.live.models import LiveEvent, LiveStream
from ccportal.auditing import task_finished, task_started
from tests.fixtures.demo import CALLS, SAMPLE

EVERY_POINT = ["live-sentiment-adherence", "live-suggestions", "rolling-summary", "flag-and-hook"]


def load(calls: list[str]) -> list[int]:
    """Demo calls with the rubric, knowledge and default rules, plus a rule that flags and
    posts a webhook every third line; every trigger point's execution PENDING, none run."""
    demo_load(calls=[CALLS[sid] for sid in calls])
    demo_intelligence_load(shadow=False)
    RuleExecution.objects.all().delete()
    OperatorResult.objects.all().delete()
    Observation.objects.all().delete()
    LiveEvent.objects.all().delete()
    LiveStream.objects.all().delete()
    rule = Rule.objects.create(
        key="flag-and-hook",
        name="Flag and hook",
        trigger_on="COMMUNICATION",
        every_n=3,
        flag=True,
        flag_operator=Operator.objects.get(key="sentiment"),
        flag_field="label",
        flag_op="ne",
        flag_value="no such label",
        webhook_url="https://hooks.example.com/ccportal",
        webhook_secret="s3cret",
        broadcast=True,
    )
    RuleOperator.objects.create(rule=rule, operator=Operator.objects.get(key="sentiment"))
    ids = [Conversation.objects.get(twilio_id=conversation_twilio_id(sid)).pk for sid in calls]
    services.conversations_backfill(conversation_ids=ids, run=False, every_point=EVERY_POINT)
    return ids


def snapshot() -> dict:
    """Everything the executions stored, without ids and timings that differ between runs."""
    executions = {
        (e.rule_id, e.conversation_id, e.trigger_point): (e.status, e.error, e.detail, e.attempts)
        for e in RuleExecution.objects.all()
    }
    results = sorted(
        (
            r.execution.trigger_point,
            r.execution.rule_id,
            r.conversation_id,
            r.operator_id,
            r.status,
            repr(r.result),
            r.error,
            r.communication_first,
            r.communication_last,
            r.rubric_version_id,
            repr(r.execution_details),
        )
        for r in OperatorResult.objects.select_related("execution")
    )
    events = [
        (e.conversation_id, e.seq, e.event, _without_ids(e.payload))
        for e in LiveEvent.objects.order_by("conversation_id", "seq")
    ]
    observations = sorted(Observation.objects.values_list("text", "conversation_id"))
    flags = sorted(
        (f.conversation_id, f.rule_id, f.raised_count, f.execution.trigger_point)
        for f in Flag.objects.select_related("execution")
    )
    deliveries = sorted(
        WebhookDelivery.objects.values_list("execution__trigger_point", "execution__rule_id")
    )
    return {
        "executions": executions,
        "results": results,
        "events": events,
        "observations": observations,
        "flags": flags,
        "deliveries": deliveries,
    }


def _without_ids(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k not in ("execution", "flag")}


def reset() -> None:
    for model in (WebhookDelivery, Flag, Observation, OperatorResult, LiveEvent, LiveStream):
        model.objects.all().delete()
    RuleExecution.objects.update(
        status=ExecutionStatus.PENDING,
        attempts=0,
        started_at=None,
        finished_at=None,
        error="",
        detail={},
    )


@pytest.mark.django_db
def test_a_batch_stores_what_one_at_a_time_stores():
    load(SAMPLE)
    pending = list(RuleExecution.objects.order_by("id").values_list("pk", flat=True))
    assert len(pending) > 100
    for pk in pending:
        services.execution_run(execution_id=pk)
    one_at_a_time = snapshot()
    reset()
    assert services.executions_drain(batch_size=40) == len(pending)
    batched = snapshot()
    assert batched == one_at_a_time
    # What is compared is there: every kind of effect, in numbers.
    statuses = {status for status, *_ in batched["executions"].values()}
    assert statuses == {ExecutionStatus.SUCCEEDED, ExecutionStatus.SKIPPED}
    assert len(batched["results"]) > len(pending)
    assert len(batched["events"]) == len(pending)  # every rule broadcasts
    assert batched["observations"]  # the final summaries remember the call
    assert batched["flags"] and batched["flags"][0][2] > 1  # raised again by later points
    assert (
        len(batched["deliveries"])
        == RuleExecution.objects.filter(rule__key="flag-and-hook").count()
    )


@pytest.mark.django_db
def test_a_poisoned_execution_fails_alone(monkeypatch):
    ids = load(SAMPLE)
    poisoned = ids[0]
    summary = embedded.RUNNERS[OperatorKind.SUMMARY]

    def poisoning(spec, ctx):
        output = summary(spec, ctx)
        if (
            ctx.conversation_id == poisoned
            and ctx.trigger_on == "CONVERSATION_END"
            and output is not None
        ):
            # Data PostgreSQL refuses (jsonb has no NUL character): the INSERT fails.
            return OperatorOutput(output_format=output.output_format, result={"text": "\x00"})
        return output

    monkeypatch.setitem(embedded.RUNNERS, OperatorKind.SUMMARY, poisoning)
    total = RuleExecution.objects.count()
    assert services.executions_drain(batch_size=500) == total
    failed = RuleExecution.objects.filter(status=ExecutionStatus.FAILED)
    assert failed.count() == 1
    bad = failed.get()
    assert bad.conversation_id == poisoned and bad.rule.key == "summary-at-end"
    assert "internal error" in bad.error
    assert not OperatorResult.objects.filter(execution=bad).exists()
    others = RuleExecution.objects.exclude(pk=bad.pk)
    assert not others.exclude(status__in=[ExecutionStatus.SUCCEEDED, ExecutionStatus.SKIPPED])
    assert set(others.values_list("attempts", flat=True)) == {1}
    assert OperatorResult.objects.filter(
        execution__conversation_id=ids[1], execution__rule__key="summary-at-end"
    ).exists()


@pytest.mark.django_db
def test_a_second_drain_changes_nothing():
    load(SAMPLE)
    total = RuleExecution.objects.count()
    assert services.executions_drain() == total
    before = snapshot()
    assert services.executions_drain() == 0
    first = RuleExecution.objects.order_by("id").first()
    assert services.execution_run(execution_id=first.pk) is None
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_run_every_execution_once():
    load(SAMPLE)
    Rule.objects.filter(key="flag-and-hook").update(webhook_url="")  # nothing leaves the test
    total = RuleExecution.objects.count()
    start = threading.Barrier(2)
    done: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            done.append(services.executions_drain(batch_size=25))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(done) == total
    assert all(done)  # both workers took part
    executions = RuleExecution.objects.all()
    assert set(executions.values_list("attempts", flat=True)) == {1}
    assert not executions.exclude(status__in=[ExecutionStatus.SUCCEEDED, ExecutionStatus.SKIPPED])
    # Once each: a result per operator that had something to say, never two.
    assert OperatorResult.objects.count() == len(
        set(OperatorResult.objects.values_list("execution_id", "operator_id"))
    )
    assert LiveEvent.objects.count() == total


@pytest.mark.django_db
def test_a_rule_calling_a_language_model_still_runs_in_a_drain(llm_server):
    ids = load(SAMPLE)
    builtin = Operator.objects.get(key="sentiment").versions.get()
    operator = Operator.objects.create(key="model-sentiment", name="Model", kind="SENTIMENT")
    version = OperatorVersion.objects.create(
        operator=operator,
        number=1,
        backend=Backend.LLM,
        parameters=builtin.parameters,
        output_format=builtin.output_format,
        output_schema=builtin.output_schema,
    )
    llm_server.reply_json({"label": "negative", "score": -0.6})
    rule = Rule.objects.create(name="Model rule", trigger_on="ON_DEMAND")
    RuleOperator.objects.create(rule=rule, operator=operator, version=version)
    model_run = services.execution_create(
        rule=rule,
        conversation_id=ids[0],
        trigger_point=f"ON_DEMAND:{rule.pk}",
        through_communication_id=None,
    )
    total = RuleExecution.objects.count()
    assert services.executions_drain(settings=llm_server.llm_settings()) == total
    execution = RuleExecution.objects.get(pk=model_run)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    result = OperatorResult.objects.get(execution=execution)
    assert result.execution_details["backend"] == Backend.LLM
    assert result.result == {"label": "negative", "score": -0.6}
    assert len(llm_server.requests) == 1  # only the model rule asked the model
    assert not RuleExecution.objects.exclude(
        status__in=[ExecutionStatus.SUCCEEDED, ExecutionStatus.SKIPPED]
    )


def test_a_batch_without_any_published_rubric_asks_for_one_once(defaults, world):
    """The soak's case (no rubric yet): adherence is skipped with its reason at every line, and
    the batch does not look for a rubric again for each execution."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    rule = Rule.objects.get(key="live-sentiment-adherence")
    for conversation in (world.north_call, world.south_call):
        for point in range(1, 21):
            services.execution_create(
                rule=rule,
                conversation_id=conversation.pk,
                trigger_point=f"COMMUNICATION:{point}",
                through_communication_id=None,
            )
    with CaptureQueriesContext(db) as queries:
        assert services.executions_drain() == 40
    skipped = OperatorResult.objects.filter(definition__operator__key="script-adherence")
    assert skipped.count() == 40
    assert all("publish a rubric" in result.error for result in skipped)
    sql = [query["sql"] for query in queries.captured_queries]
    # Once per batch, not once or twice per execution: the pins of both conversations, then
    # whether a rubric is published.
    assert sum('FROM "intelligence_conversationrubric"' in text for text in sql) == 1
    assert sum('FROM "rubrics_rubric"' in text for text in sql) == 1
    assert sum("SET status = v.status" in text for text in sql) == 1  # one finishing UPDATE


@pytest.mark.django_db
def test_the_customer_memory_a_drain_task_writes_is_audited_as_that_task():
    """Observations and customer profiles are audited; the drain writes them (a final summary
    remembers the call) inside the task's audit context, which pghistory attaches to each
    statement that writes, so the audit trail names the task."""
    load(SAMPLE)  # the demo's own observations were written (and deleted) outside any task
    observations_before = ObservationEvent.objects.count()
    profiles_before = CustomerProfileEvent.objects.count()

    class Task:
        name = "apps.intelligence.tasks.drain_executions"

    task_started(task_id="drain-1", task=Task())
    try:
        services.executions_drain()
    finally:
        task_finished(task_id="drain-1")

    observations = ObservationEvent.objects.order_by("pgh_id")[observations_before:]
    assert [event.pgh_label for event in observations] == ["insert"] * Observation.objects.count()
    assert observations
    assert {event.pgh_context["task"] for event in observations} == {Task.name}
    profiles = CustomerProfileEvent.objects.order_by("pgh_id")[profiles_before:]
    assert {event.pgh_context.get("task") for event in profiles} <= {Task.name}
