"""Rules fire from Twilio's events, exactly once per trigger point, whatever is redelivered."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from threading import Event, Thread

import pytest
from django.db import connection, transaction

from apps.conversations import services as conversations
from apps.conversations.models import Conversation
from apps.intelligence import services
from apps.intelligence.choices import ExecutionStatus, TriggerOn
from apps.intelligence.models import OperatorResult, Rule, RuleExecution, RuleOperator
from apps.intelligence.services import engine
from apps.webhooks import services as inbox
from apps.webhooks.models import InboundEvent
from tests.fixtures.broker import use_broker
from tests.fixtures.twilio import ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db

CONV = "conv_conversation_01ktbbbbbbbbbbbbbbbbbbbbbb"
CUSTOMER = "conv_participant_01ktaaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture(autouse=True)
def twilio_accounts(settings, defaults):
    from tests.fixtures.twilio import AUTH_TOKEN

    settings.TWILIO_AUTH_TOKENS = [f"AC00000000000000000000000000000000:{AUTH_TOKEN}"]
    settings.PUBLIC_BASE_URL = "https://portal.example.com"


def deliver(client, name, token=None, **overrides):
    response = post_json(client, ORCHESTRATOR, fixture(name, **overrides), idempotency_token=token)
    assert response.status_code == 200, response.content
    return response


def communication(client, number, text, *, token=None, author=CUSTOMER):
    deliver(
        client,
        "communication_created",
        token=token,
        id=f"conv_communication_{number:026d}",
        occurredAt=f"2026-05-18T20:42:{number:02d}Z",
        updatedAt=f"2026-05-18T20:42:{number:02d}Z",
        content={"type": "TEXT", "text": text},
        author={"address": "+15551230000", "channel": "VOICE", "participantId": author},
    )


def drain():
    inbox.inbox_drain(max_seconds=30)


def run_pending():
    for pk in RuleExecution.objects.filter(status=ExecutionStatus.PENDING).values_list(
        "pk", flat=True
    ):
        services.execution_run(execution_id=pk)


def points(rule_key):
    return sorted(
        RuleExecution.objects.filter(rule__key=rule_key).values_list("trigger_point", flat=True)
    )


def test_every_communication_triggers_the_live_rule_once(client):
    deliver(client, "conversation_created")
    deliver(client, "participant_added")
    for number, text in enumerate(["hi i lost my card", "can you help me", "thanks"], start=1):
        communication(client, number, text)
    drain()
    assert points("live-sentiment-adherence") == [
        "COMMUNICATION:1",
        "COMMUNICATION:2",
        "COMMUNICATION:3",
    ]


def test_the_same_events_delivered_twice_fire_each_rule_once_per_point(client):
    deliver(client, "conversation_created")
    for number, text in enumerate(["hi i lost my card", "can you help me"], start=1):
        communication(client, number, text, token=f"first-{number}")
    drain()
    run_pending()
    # Twilio retries with new idempotency tokens, so the inbox takes them again...
    for number, text in enumerate(["hi i lost my card", "can you help me"], start=1):
        communication(client, number, text, token=f"retry-{number}")
    drain()
    # ...and an operator replays everything by hand.
    inbox.inbox_replay(ids=list(InboundEvent.objects.values_list("pk", flat=True)))
    drain()
    run_pending()
    assert InboundEvent.objects.filter(status="processed").count() == 5
    assert points("live-sentiment-adherence") == ["COMMUNICATION:1", "COMMUNICATION:2"]
    assert OperatorResult.objects.filter(definition__operator__key="sentiment").count() == 2


def test_conversation_end_fires_once_even_when_closed_is_delivered_again(client):
    deliver(client, "conversation_created")
    communication(client, 1, "i would like to check my balance please")
    deliver(client, "conversation_closed", token="close-1")
    deliver(client, "conversation_closed", token="close-2")
    drain()
    run_pending()
    assert points("summary-at-end") == ["CONVERSATION_END"]
    summary = OperatorResult.objects.get(definition__operator__key="summary")
    assert summary.result["final"] is True
    assert "balance" in summary.result["text"]


def test_every_n_communications_fires_at_multiples_of_n(client):
    rule = Rule.objects.get(key="live-sentiment-adherence")
    Rule.objects.filter(pk=rule.pk).update(every_n=2)
    deliver(client, "conversation_created")
    for number in range(1, 6):
        communication(client, number, f"line number {number}")
    drain()
    assert points("live-sentiment-adherence") == ["COMMUNICATION:2", "COMMUNICATION:4"]


def test_a_window_covers_the_communications_since_the_previous_execution(client):
    Rule.objects.filter(key="live-sentiment-adherence").update(every_n=2)
    deliver(client, "conversation_created")
    for number in range(1, 5):
        communication(client, number, f"this is great number {number}")
    drain()
    run_pending()
    windows = [
        [item["id"][-2:] for item in result.result["communications"]]
        for result in OperatorResult.objects.filter(definition__operator__key="sentiment").order_by(
            "execution__trigger_point"
        )
    ]
    assert windows == [["01", "02"], ["03", "04"]]


def test_inactive_fires_the_inactive_rule(client):
    rule = Rule.objects.create(name="When idle", trigger_on=TriggerOn.CONVERSATION_INACTIVE)
    RuleOperator.objects.create(
        rule=rule,
        operator_id=Rule.objects.get(key="summary-at-end").rule_operators.get().operator_id,
    )
    deliver(client, "conversation_created")
    communication(client, 1, "i need to reset my online banking password")
    deliver(client, "conversation_closed", status="INACTIVE", updatedAt="2026-05-18T20:50:00Z")
    drain()
    run_pending()
    (execution,) = RuleExecution.objects.filter(rule=rule)
    assert execution.trigger_point.startswith("CONVERSATION_INACTIVE:")
    assert execution.status == ExecutionStatus.SUCCEEDED
    summary = OperatorResult.objects.get(execution=execution)
    assert summary.result["final"] is False  # inactive is not the end


def test_an_inactive_rule_does_not_fire(client):
    Rule.objects.update(is_active=False)
    deliver(client, "conversation_created")
    communication(client, 1, "hello")
    drain()
    assert not RuleExecution.objects.exists()


def test_on_demand_runs_once_per_request_key(world):
    rule = Rule.objects.get(key="summary-at-end")
    first = services.rule_run_on_demand(
        user=world.qa_analyst, rule_id=rule.pk, conversation_id=world.north_call.pk, request_key="k"
    )
    again = services.rule_run_on_demand(
        user=world.qa_analyst, rule_id=rule.pk, conversation_id=world.north_call.pk, request_key="k"
    )
    assert first.pk == again.pk
    assert first.trigger_point == "ON_DEMAND:k"
    assert RuleExecution.objects.filter(rule=rule).count() == 1


def test_on_demand_refuses_agents_and_conversations_out_of_scope(world):
    from apps.common.errors import NotFound, PermissionDenied

    rule = Rule.objects.get(key="summary-at-end")
    with pytest.raises(PermissionDenied):
        services.rule_run_on_demand(
            user=world.agent_user, rule_id=rule.pk, conversation_id=world.north_call.pk
        )
    with pytest.raises(NotFound):  # the north supervisor cannot see the south call
        services.rule_run_on_demand(
            user=world.supervisor, rule_id=rule.pk, conversation_id=world.south_call.pk
        )
    assert not RuleExecution.objects.exists()


def test_with_the_broker_down_executions_wait_for_the_sweeper(
    client, django_capture_on_commit_callbacks
):
    from ccportal.celery import app

    previous = app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")
    try:
        deliver(client, "conversation_created")
        communication(client, 1, "hello there")
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            drain()  # the enqueue after commit fails; the event is processed all the same
    finally:
        use_broker(previous)
    assert callbacks
    (execution,) = RuleExecution.objects.filter(rule__key="live-sentiment-adherence")
    assert execution.status == ExecutionStatus.PENDING
    assert InboundEvent.objects.filter(status="processed").count() == 2
    assert Conversation.objects.get(twilio_id=CONV).communications.count() == 1
    RuleExecution.objects.filter(pk=execution.pk).update(
        triggered_at=execution.triggered_at.replace(year=2020)
    )
    assert services.execution_sweep()["requeued"] == 1


def test_a_drain_runs_every_pending_execution_oldest_first(client):
    deliver(client, "conversation_created")
    for number in range(1, 4):
        communication(client, number, f"i would like to pay my bill number {number}")
    drain()
    pending = RuleExecution.objects.filter(status=ExecutionStatus.PENDING)
    assert pending.count() == 6  # two COMMUNICATION rules, three communications
    assert services.executions_drain(max_seconds=30) == 6
    assert not pending.exists()
    assert services.executions_drain(max_seconds=30) == 0


def test_ingest_wakes_the_operator_workers_once_per_commit_not_per_execution(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    wakes = []
    monkeypatch.setattr(services.OPERATORS_WAKER, "wake", lambda: wakes.append(1))
    deliver(client, "conversation_created")
    communication(client, 1, "hello i need help with my card")
    with django_capture_on_commit_callbacks(execute=True):
        drain()
    # Two COMMUNICATION rules fired on the one communication: one wake-up.
    assert RuleExecution.objects.count() == 2
    assert len(wakes) == 1


def test_an_execution_that_raises_is_marked_failed_and_the_drain_goes_on(client, monkeypatch):
    deliver(client, "conversation_created")
    communication(client, 1, "i would like to order checks")
    drain()
    real_finish = engine.executions_finish_many
    calls = []

    def finish_once_broken(items):
        # The first execution seen is broken: its batch fails and is run one at a time.
        ids = [item.claim.execution.pk for item in items]
        calls.extend(pk for pk in ids if pk not in calls)
        if calls[0] in ids:
            raise ValueError("a bug")
        return real_finish(items)

    monkeypatch.setattr(engine, "executions_finish_many", finish_once_broken)
    assert services.executions_drain(max_seconds=30) == 2  # both rules' executions, one broken
    broken = RuleExecution.objects.get(pk=calls[0])
    assert broken.status == ExecutionStatus.FAILED
    assert "a bug" in broken.error
    assert not OperatorResult.objects.filter(execution=broken).exists()
    # The next one ran normally (the suggestion rule: nothing to suggest for an unknown author).
    assert RuleExecution.objects.get(pk=calls[1]).status == ExecutionStatus.SKIPPED


# ---- two ingest workers at once ---------------------------------------------------------------


def _line(number):
    return conversations.CommunicationInput(
        twilio_id=f"conv_communication_race{number:020d}",
        conversation_twilio_id=CONV,
        occurred_at=datetime(2026, 5, 18, 20, 42, number, tzinfo=UTC),
        text=f"line {number}",
        author_address="+15551230000",
        channel="VOICE",
    )


def _store_and_trigger(number, *, before_counting=lambda: None, after_counting=lambda: None):
    """What an ingest worker does with one COMMUNICATION_CREATED, in one transaction."""
    with transaction.atomic():
        stored, _ = conversations.communication_apply(_line(number))
        before_counting()
        services.communication_added(
            conversation_id=stored.conversation_id, communication_id=stored.pk, enqueue=False
        )
        after_counting()


def _waits_on_a_lock(backend_pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [backend_pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_two_workers_storing_two_communications_at_once_fire_both_trigger_points():
    """Worker A has stored communication 2 and not yet counted when worker B, in its own
    PostgreSQL session, stores communication 3; B counts once A has, and A commits only when B
    is stuck behind one of A's locks. Each must end at its own trigger point: none may be lost
    to the other's uncommitted row (ON CONFLICT DO NOTHING would drop it silently)."""
    services.defaults_ensure()
    Rule.objects.exclude(key="live-sentiment-adherence").update(is_active=False)
    _store_and_trigger(1)
    b_started, b_stored, a_counted = Event(), Event(), Event()
    b_backend, failures, workers = [], [], []

    def worker_b():
        try:
            b_backend.append(connection.cursor().connection.info.backend_pid)
            b_started.set()
            _store_and_trigger(3, before_counting=lambda: (b_stored.set(), a_counted.wait(10)))
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    def until(condition):
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "worker B neither went on nor waited"
            time.sleep(0.01)

    def b_waits():
        return _waits_on_a_lock(b_backend[0])

    def start_b_and_let_it_store():
        workers.append(Thread(target=worker_b))
        workers[0].start()
        b_started.wait(10)
        until(lambda: b_stored.is_set() or b_waits())

    def let_b_count():
        a_counted.set()
        until(lambda: b_waits() or not workers[0].is_alive())

    def worker_a():
        try:
            _store_and_trigger(
                2, before_counting=start_b_and_let_it_store, after_counting=let_b_count
            )
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    a = Thread(target=worker_a)
    a.start()
    a.join(30)
    for b in workers:
        b.join(30)

    assert not failures, failures
    assert points("live-sentiment-adherence") == [
        "COMMUNICATION:1",
        "COMMUNICATION:2",
        "COMMUNICATION:3",
    ]
