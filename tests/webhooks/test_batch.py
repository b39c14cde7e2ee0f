"""A worker applies a claimed batch as sets: the same end state as one event at a time, conflicts
inside the batch resolved as if applied in order, a poisoned event failing alone."""

from __future__ import annotations

import time
from threading import Barrier, Thread

import psycopg
import pytest
from django.db import connection

from apps.conversations.models import Communication, Conversation, Participant
from apps.intelligence import services as intelligence
from apps.intelligence.models import Rule, RuleExecution
from apps.live.models import LiveEvent
from apps.webhooks import services
from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db

CONV = "conv_conversation_01ktbbbbbbbbbbbbbbbbbbbbbb"
CUSTOMER = "conv_participant_01ktaaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture(autouse=True)
def default_rules(db):
    intelligence.defaults_ensure()


def deliver(client, fixture_name, token=None, **overrides):
    payload = fixture(fixture_name, **overrides)
    response = post_json(client, ORCHESTRATOR, payload, idempotency_token=token)
    assert response.status_code == 200, response.content


def line(number, text="hello", *, conversation=CONV, author=CUSTOMER, version=None, **more):
    return {
        "id": f"conv_communication_{conversation[-6:]}{number:020d}",
        "conversationId": conversation,
        "occurredAt": f"2026-05-18T20:42:{number:02d}Z",
        "updatedAt": version or f"2026-05-18T20:42:{number:02d}Z",
        "content": {"type": "TEXT", "text": text},
        "author": {"address": "+15551230000", "channel": "VOICE", "participantId": author},
        **more,
    }


def a_call(client, conversation=CONV, *, lines=4):
    """A whole call's events, as Orchestrator sends them (participant ids of its own)."""
    customer, agent = (
        f"conv_participant_c{conversation[-6:]}",
        f"conv_participant_a{conversation[-6:]}",
    )
    deliver(client, "conversation_created", id=conversation)
    deliver(client, "participant_added", id=customer, conversationId=conversation)
    deliver(client, "agent_added", id=agent, conversationId=conversation)
    for number in range(1, lines + 1):
        text = "my card is 4111 1111 1111 1111" if number == 2 else f"line {number}"
        author = customer if number % 2 else agent
        deliver(
            client,
            "communication_created",
            **line(number, text, conversation=conversation, author=author),
        )
    deliver(client, "conversation_closed", id=conversation)


def one_at_a_time():
    """The path before batches: every claimed event in its own transaction."""
    for event_id in services.inbox_claim(limit=1000):
        services.inbox_event_process(event_id=event_id)


def state(conversation_id):
    conversation = Conversation.objects.get(twilio_id=conversation_id)
    lines = list(
        Communication.objects.filter(conversation=conversation)
        .order_by("occurred_at")
        .values_list("twilio_id", "text", "offset_ms", "author__type")
    )
    executions = sorted(
        RuleExecution.objects.filter(conversation=conversation).values_list(
            "rule__key", "trigger_point", "through_communication__twilio_id"
        )
    )
    events = list(
        LiveEvent.objects.filter(conversation_id=conversation.pk)
        .order_by("seq")
        .values_list("seq", "event")
    )
    return {
        "conversation": (
            conversation.status,
            conversation.is_placeholder,
            conversation.started_at,
            conversation.ended_at,
            conversation.channels,
            conversation.call_sids,
            conversation.sensitive,
        ),
        "lines": [
            (twilio_id[-20:], text, offset, author) for twilio_id, text, offset, author in lines
        ],
        "participants": sorted(
            Participant.objects.filter(conversation=conversation).values_list("type", flat=True)
        ),
        "executions": [(key, point, through[-20:]) for key, point, through in executions],
        "live": [event for _, event in events],
        "numbers": [seq for seq, _ in events],
    }


def test_a_batch_of_mixed_events_ends_as_one_event_at_a_time_does(client, drain):
    a_call(client, "conv_conversation_01ktbatchbatchbatch000001")
    assert drain() == 8
    a_call(client, "conv_conversation_01ktsingleonesingle000002")
    one_at_a_time()

    batch = state("conv_conversation_01ktbatchbatchbatch000001")
    single = state("conv_conversation_01ktsingleonesingle000002")
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert batch == single
    assert [author for *_, author in batch["lines"]] == ["CUSTOMER", "HUMAN_AGENT"] * 2
    assert "4111" not in batch["lines"][1][1]
    assert batch["conversation"][0] == "CLOSED" and batch["conversation"][6]  # sensitive
    assert [p for _, p, _ in batch["executions"]].count("CONVERSATION_END") == 1
    assert ("live-sentiment-adherence", "COMMUNICATION:4", batch["lines"][3][0]) in batch[
        "executions"
    ]
    assert batch["numbers"] == list(range(1, len(batch["numbers"]) + 1))  # no gaps


def test_two_versions_of_a_communication_in_one_batch_the_newer_wins_whatever_the_order(
    client, drain
):
    deliver(client, "conversation_created")
    deliver(client, "communication_created", **line(1, "newer", version="2026-05-18T20:50:00Z"))
    deliver(client, "communication_created", **line(1, "older", version="2026-05-18T20:45:00Z"))
    deliver(client, "communication_created", **line(2, "first", version="2026-05-18T20:45:00Z"))
    deliver(client, "communication_created", **line(2, "second", version="2026-05-18T20:50:00Z"))

    assert drain() == 5

    assert sorted(Communication.objects.values_list("text", flat=True)) == ["newer", "second"]
    applied = sorted(
        (e.result["communication"][-2:], e.result["applied"])
        for e in InboundEvent.objects.filter(event_type="COMMUNICATION_CREATED")
    )
    assert applied == [("01", False), ("01", True), ("02", False), ("02", True)]
    assert sorted(
        RuleExecution.objects.filter(rule__key="live-sentiment-adherence").values_list(
            "trigger_point", flat=True
        )
    ) == ["COMMUNICATION:1", "COMMUNICATION:2"]


def test_a_communication_delivered_twice_in_one_batch_is_one_row_and_one_trigger_point(
    client, drain
):
    deliver(client, "communication_created", token="first", **line(1))
    deliver(client, "communication_created", token="again", **line(1))
    deliver(client, "communication_created", token="next", **line(2))

    assert drain() == 3

    assert Communication.objects.count() == 2
    assert sorted(
        RuleExecution.objects.filter(rule__key="live-suggestions").values_list(
            "trigger_point", "through_communication__twilio_id"
        )
    ) == [("COMMUNICATION:1", line(1)["id"]), ("COMMUNICATION:2", line(2)["id"])]
    assert LiveEvent.objects.filter(event="line").count() == 2


def test_a_communication_before_its_conversation_in_one_batch_fills_the_placeholder(client, drain):
    deliver(client, "communication_created", **line(30, "early"))
    deliver(client, "conversation_created", name="Delivery date")

    assert drain() == 2

    conversation = Conversation.objects.get(twilio_id=CONV)
    assert not conversation.is_placeholder
    assert conversation.name == "Delivery date"
    communication = Communication.objects.get()
    assert communication.conversation == conversation
    assert communication.author.twilio_id == CUSTOMER
    # 20:41:49 created, 20:42:30 said.
    assert communication.offset_ms == 41_000


def test_closed_is_final_inside_one_batch(client, drain):
    deliver(client, "conversation_created")
    deliver(client, "conversation_closed")
    deliver(client, "conversation_created", status="ACTIVE", updatedAt="2026-05-18T21:20:00Z")

    assert drain() == 3

    assert Conversation.objects.get().status == "CLOSED"
    assert RuleExecution.objects.filter(trigger_point="CONVERSATION_END").count() == 1


def test_a_poisoned_event_in_a_batch_fails_alone(client, drain):
    deliver(client, "conversation_created")
    deliver(client, "communication_created", **line(1, "good"))
    # A value the database cannot hold: the batch's insert fails, then this event alone.
    deliver(client, "communication_created", **line(2, "poison", id="x" * 300))
    deliver(client, "communication_created", **line(3, "no conversation", conversationId=""))
    deliver(client, "communication_created", **line(4, "also good"))

    assert drain() == 5

    statuses = sorted(InboundEvent.objects.values_list("status", flat=True))
    assert statuses == ["failed", "failed", "processed", "processed", "processed"]
    failed = InboundEvent.objects.filter(status="failed")
    assert {e.error.split(":")[0] for e in failed} == {"DataError", "PayloadError"}
    assert sorted(Communication.objects.values_list("text", flat=True)) == ["also good", "good"]
    assert sorted(
        RuleExecution.objects.filter(rule__key="live-suggestions").values_list(
            "trigger_point", flat=True
        )
    ) == ["COMMUNICATION:1", "COMMUNICATION:2"]


def test_a_transient_failure_sends_every_event_of_the_batch_back_with_backoff(
    client, drain, settings
):
    deliver(client, "conversation_created")
    deliver(client, "communication_created", **line(1))
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '100ms'")
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    )
    other.execute("LOCK TABLE conversations_conversation IN ACCESS EXCLUSIVE MODE")
    try:
        drain()
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")

    assert list(InboundEvent.objects.values_list("status", "attempts")) == [("pending", 1)] * 2
    assert not Communication.objects.exists()


def _post_all(client, bodies):
    for body in bodies:
        assert post_json(client, ORCHESTRATOR, body).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_workers_with_batches_of_the_same_conversations_at_once(client):
    """Two batches held at the same lock, then let go together: each conversation's trigger
    points are made exactly once, and the two batches, which touch the same two conversations in
    opposite orders, do not deadlock."""
    from django.conf import settings as django_settings

    intelligence.defaults_ensure()
    Rule.objects.exclude(key="live-sentiment-adherence").update(is_active=False)
    other_conv = "conv_conversation_01ktotherotherotherother"
    _post_all(
        client, [fixture("conversation_created"), fixture("conversation_created", id=other_conv)]
    )
    services.inbox_drain(max_seconds=10)
    first = [fixture("communication_created", **line(n, f"a{n}")) for n in (1, 2, 3)]
    first += [fixture("communication_created", **line(n, conversation=other_conv)) for n in (1, 2)]
    first.append(
        fixture(
            "conversation_created", id=other_conv, name="renamed", updatedAt="2026-05-18T20:50:00Z"
        )
    )
    second = [fixture("communication_created", **line(n, conversation=other_conv)) for n in (3, 4)]
    second.append(
        fixture("conversation_created", name="also renamed", updatedAt="2026-05-18T20:50:00Z")
    )
    second += [fixture("communication_created", **line(n, f"b{n}")) for n in (4, 5, 6)]
    _post_all(client, first)
    first_ids = list(InboundEvent.objects.filter(status="pending").values_list("pk", flat=True))
    _post_all(client, second)
    second_ids = list(
        InboundEvent.objects.filter(status="pending")
        .exclude(pk__in=first_ids)
        .values_list("pk", flat=True)
    )
    InboundEvent.objects.filter(status="pending").update(status="processing")

    params = connection.get_connection_params()
    holder = psycopg.connect(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    )
    holder.execute(
        "SELECT 1 FROM conversations_conversation WHERE twilio_id = %s FOR UPDATE", [CONV]
    )
    start, failures = Barrier(3), []

    def worker(ids):
        try:
            start.wait(10)
            services.inbox_batch_process(event_ids=ids)
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)
        finally:
            connection.close()

    threads = [Thread(target=worker, args=(ids,)) for ids in (first_ids, second_ids)]
    for thread in threads:
        thread.start()
    start.wait(10)
    time.sleep(0.5)  # both batches now wait on the held conversation (or on each other)
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(30)

    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
    for conversation, count in ((CONV, 6), (other_conv, 4)):
        points = sorted(
            RuleExecution.objects.filter(conversation__twilio_id=conversation).values_list(
                "trigger_point", "through_communication_id"
            )
        )
        assert [p for p, _ in points] == sorted(f"COMMUNICATION:{n}" for n in range(1, count + 1))
        assert len({through for _, through in points}) == count  # one point per line
    assert Conversation.objects.get(twilio_id=other_conv).name == "renamed"
    assert Conversation.objects.get(twilio_id=CONV).name == "also renamed"
    assert django_settings.INGEST_BATCH_SIZE >= 10


def test_voice_status_in_a_batch_is_applied_after_the_lines_that_name_its_call(client, drain):
    from apps.conversations.models import Call
    from tests.fixtures.twilio import VOICE_STATUS, post_form

    call_sid = "CA0123456789abcdef0123456789abcdef"
    completed = {
        "AccountSid": "AC00000000000000000000000000000000",
        "CallSid": call_sid,
        "CallStatus": "completed",
        "Timestamp": "Mon, 18 May 2026 20:50:00 +0000",
        "SequenceNumber": "2",
        "CallDuration": "492",
    }
    assert post_form(client, VOICE_STATUS, completed).status_code in (200, 204)
    deliver(client, "communication_created", **line(1, channelId=call_sid))

    assert drain() == 2

    call = Call.objects.get(call_sid=call_sid)
    assert call.conversation == Conversation.objects.get(twilio_id=CONV)
    assert (call.status, call.duration_seconds) == ("completed", 492)
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


# Conversation and participant events as sets: the same end state as one at a time -------------


def event(fixture_name, *, event_type=None, timestamp=None, **data):
    payload = fixture(fixture_name, **data)
    if event_type:
        payload["eventType"] = event_type
    if timestamp:
        payload["timestamp"] = timestamp
    return payload


def _conv(conversation, name="created", **data):
    return event("conversation_created", id=conversation, **data)


def _closed(conversation, **data):
    return event("conversation_closed", id=conversation, **data)


def _customer(conversation, tag, **data):
    return event(
        "participant_added", id=f"conv_participant_{tag}c", conversationId=conversation, **data
    )


def _agent(conversation, tag, **data):
    return event("agent_added", id=f"conv_participant_{tag}a", conversationId=conversation, **data)


def _line(conversation, tag, number, text="hello", who="c", **data):
    return event(
        "communication_created",
        **line(number, text, conversation=conversation, author=f"conv_participant_{tag}{who}"),
        **data,
    )


def _removed(conversation, tag, **data):
    return _customer(
        conversation,
        tag,
        event_type="PARTICIPANT_REMOVED",
        timestamp="2026-05-18T21:00:00Z",
        updatedAt="2026-05-18T21:00:00Z",
        **data,
    )


SCENARIOS = {
    "created then updated": lambda c, t: [
        _conv(c),
        _conv(c, name="renamed", status="INACTIVE", updatedAt="2026-05-18T20:45:00Z"),
        _line(c, t, 1),
    ],
    "updated before created": lambda c, t: [
        _conv(c, name="renamed", status="INACTIVE", updatedAt="2026-05-18T20:45:00Z"),
        _conv(c, name="first"),
        _line(c, t, 1),
    ],
    "closed then a late update": lambda c, t: [
        _conv(c),
        _line(c, t, 1),
        _line(c, t, 2, who="a"),
        _closed(c),
        _conv(c, name="late", status="ACTIVE", updatedAt="2026-05-18T21:20:00Z"),
        _conv(c, name="older", status="INACTIVE", updatedAt="2026-05-18T20:50:00Z"),
        _closed(c, updatedAt="2026-05-18T21:30:00Z"),
    ],
    "closed and updated in the same second": lambda c, t: [
        _conv(c),
        _closed(c),
        _conv(c, status="INACTIVE", updatedAt="2026-05-18T21:10:00Z"),
    ],
    "participant added twice": lambda c, t: [
        _conv(c),
        _customer(c, t),
        _customer(c, t, name="Nora", updatedAt="2026-05-18T20:43:00Z"),
        _customer(c, t, name="stale", updatedAt="2026-05-18T20:42:00Z"),
        _line(c, t, 1),
    ],
    "participant removed before added": lambda c, t: [
        _conv(c),
        _removed(c, t),
        _customer(c, t),
        _agent(c, t),
        _line(c, t, 1, who="a"),
    ],
    "participant of a conversation not yet seen": lambda c, t: [
        _line(c, t, 5, "before anyone"),
        _customer(c, t, createdAt="2026-05-18T20:40:00Z"),
        _agent(c, t),
        _line(c, t, 3, "early", who="a"),
        _conv(c),
        _line(c, t, 6),
        _closed(c),
    ],
    "participant joined before the placeholder's first line": lambda c, t: [
        _agent(c, t, createdAt="2026-05-18T20:40:00Z"),
        _line(c, t, 7, who="a"),
        _line(c, t, 2, who="c"),
        _customer(c, t),
    ],
    "lines name their authors before the participants arrive": lambda c, t: [
        _conv(c),
        _line(c, t, 1),
        _line(c, t, 2, who="a"),
        _agent(c, t),
        _customer(c, t),
        _line(c, t, 3),
        _closed(c),
        _removed(c, t),
    ],
}


def _normalise(value, tag):
    return value.replace(tag, "~") if isinstance(value, str) else value


def full_state(conversation_id, tag, event_ids):
    conversation = Conversation.objects.get(twilio_id=conversation_id)
    participants = sorted(
        (
            _normalise(p.twilio_id, tag),
            p.type,
            p.name,
            p.addresses,
            p.profile_id,
            p.joined_at,
            p.left_at,
            p.source_updated_at,
            p.agent_id,
        )
        for p in Participant.objects.filter(conversation=conversation)
    )
    lines = list(
        Communication.objects.filter(conversation=conversation)
        .order_by("occurred_at")
        .values_list("twilio_id", "text", "offset_ms", "author__twilio_id")
    )
    events = InboundEvent.objects.filter(pk__in=event_ids).order_by("pk")
    executions = sorted(
        (key, point, (through or "")[-20:])
        for key, point, through in RuleExecution.objects.filter(
            conversation=conversation
        ).values_list("rule__key", "trigger_point", "through_communication__twilio_id")
    )
    live = list(
        LiveEvent.objects.filter(conversation_id=conversation.pk)
        .order_by("seq")
        .values_list("seq", "event")
    )
    return {
        "conversation": (
            conversation.status,
            conversation.is_placeholder,
            conversation.started_at,
            conversation.ended_at,
            conversation.channels,
            conversation.call_sids,
            conversation.sensitive,
        ),
        "executions": executions,
        "live": [name for _, name in live],
        "numbers": [seq for seq, _ in live],
        "fields": (
            conversation.name,
            conversation.account_id,
            conversation.configuration_id,
            conversation.source_updated_at,
            conversation.team_id,
        ),
        "participants": participants,
        "authors": [(t[-20:], text, o, _normalise(a, tag)) for t, text, o, a in lines],
        "payloads": list(
            LiveEvent.objects.filter(conversation_id=conversation.pk, event="status")
            .order_by("seq")
            .values_list("payload", flat=True)
        ),
        "outcomes": [(e.event_type, e.status, e.result.get("applied")) for e in events],
    }


def _post_scenario(client, name, conversation, tag):
    before = set(InboundEvent.objects.values_list("pk", flat=True))
    for number, payload in enumerate(SCENARIOS[name](conversation, tag)):
        body = post_json(client, ORCHESTRATOR, payload, idempotency_token=f"{tag}-{number}")
        assert body.status_code == 200, body.content
    return sorted(set(InboundEvent.objects.values_list("pk", flat=True)) - before)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_conversation_and_participant_events_in_one_batch_end_as_one_at_a_time(client, drain, name):
    from apps.accounts.choices import IdentityKind
    from tests.fixtures import builders

    team = builders.make_team(name="Floor")
    builders.make_agent(name="Alice", team=team, identities={IdentityKind.ADDRESS: "client:alice"})
    batch_conv = "conv_conversation_01ktbatchbatchbatch000001"
    single_conv = "conv_conversation_01ktsingleonesingle000002"
    batch_ids = _post_scenario(client, name, batch_conv, "bbbb")
    processed = services.inbox_batch_process(event_ids=services.inbox_claim(limit=1000))
    assert sum(processed.values()) == len(batch_ids)
    single_ids = _post_scenario(client, name, single_conv, "ssss")
    one_at_a_time()

    batch = full_state(batch_conv, "bbbb", batch_ids)
    single = full_state(single_conv, "ssss", single_ids)
    assert batch["outcomes"] == single["outcomes"]
    assert {status for _, status, _ in batch["outcomes"]} == {"processed"}
    assert batch == single
    points = [point for _, point, _ in batch["executions"]]
    assert points.count("CONVERSATION_END") == (1 if batch["conversation"][0] == "CLOSED" else 0)


def test_a_batch_of_many_calls_interleaved_ends_as_one_at_a_time(client):
    """Fifty-odd events of four calls in progress at once, in one batch each way: the waves
    (one kind of event per conversation each) end as one event at a time does."""
    from apps.accounts.choices import IdentityKind
    from tests.fixtures import builders

    team = builders.make_team(name="Floor")
    builders.make_agent(name="Alice", team=team, identities={IdentityKind.ADDRESS: "client:alice"})

    def calls(prefix, tag):
        scenarios = [SCENARIOS[name] for name in sorted(SCENARIOS)][:4]
        made = [
            scenario(f"conv_conversation_01ktcall{n:02d}{prefix}", f"{tag}{n}")
            for n, scenario in enumerate(scenarios)
        ]
        return [
            events[position]
            for position in range(max(map(len, made)))
            for events in made
            if position < len(events)
        ]

    for tag, prefix, apply in (
        (
            "bbbb",
            "bbbb",
            lambda: services.inbox_batch_process(event_ids=services.inbox_claim(limit=1000)),
        ),
        ("ssss", "ssss", one_at_a_time),
    ):
        for number, payload in enumerate(calls(prefix, tag)):
            post_json(client, ORCHESTRATOR, payload, idempotency_token=f"{tag}-{number}")
        apply()
    for n in range(4):
        batch = full_state(f"conv_conversation_01ktcall{n:02d}bbbb", f"bbbb{n}", [])
        single = full_state(f"conv_conversation_01ktcall{n:02d}ssss", f"ssss{n}", [])
        assert batch == single, n
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_exactly_once_trigger_points_for_conversation_events_in_one_batch(client, drain):
    deliver(client, "conversation_created")
    deliver(client, "communication_created", **line(1))
    deliver(client, "conversation_closed", token="close")
    deliver(client, "conversation_closed", token="close again")
    deliver(client, "conversation_closed", token="closed later", updatedAt="2026-05-18T21:15:00Z")

    assert drain() == 5

    end = RuleExecution.objects.filter(trigger_point="CONVERSATION_END")
    assert end.count() == Rule.objects.filter(is_active=True, trigger_on="CONVERSATION_END").count()
    assert end.count() >= 1
    assert {e.through_communication.twilio_id for e in end} == {line(1)["id"]}
    assert LiveEvent.objects.filter(event="status").count() == 1  # one change of status
    applied = [
        e.result["applied"]
        for e in InboundEvent.objects.filter(event_type="CONVERSATION_UPDATED").order_by("pk")
    ]
    assert applied == [True, False, True]


def test_an_agent_participant_links_the_agent_and_the_team_in_a_batch(client, drain):
    from apps.accounts.choices import IdentityKind
    from tests.fixtures import builders

    team = builders.make_team(name="Floor")
    alice = builders.make_agent(
        name="Alice", team=team, identities={IdentityKind.ADDRESS: "CLIENT:ALICE"}
    )
    builders.make_agent(name="Nobody", identities={IdentityKind.ADDRESS: "client:nobody"})
    deliver(client, "conversation_created")
    deliver(client, "participant_added")
    deliver(client, "agent_added")

    assert drain() == 3

    agent = Participant.objects.get(type="HUMAN_AGENT")
    assert agent.agent == alice  # matched case-insensitively, as one at a time does
    assert Participant.objects.get(type="CUSTOMER").agent is None
    assert Conversation.objects.get().team == team
