"""`manage.py simulate_calls`: the demo calls replayed as signed Orchestrator webhooks."""

from __future__ import annotations

import itertools
import json
import re
import socket
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from twilio.request_validator import RequestValidator

from apps.accounts.choices import IdentityKind
from apps.conversations.choices import ContentType, ConversationStatus, ParticipantType
from apps.conversations.models import Communication, Conversation, Participant
from apps.demo import simulator
from apps.demo.dataset import read_calls
from apps.demo.services import demo_load
from apps.demo.simulator import sign, simulated_call
from apps.webhooks.models import InboundEvent
from apps.webhooks.services import inbox_drain
from ccportal import devstack
from tests.fixtures.twilio import AUTH_TOKEN

CALLS = read_calls()
CALL = CALLS[0]
START = datetime(2026, 5, 18, 20, 41, 49, tzinfo=UTC)
ACCOUNT = "AC00000000000000000000000000000000"


def spoken(call):
    return [segment for segment in call.segments if segment.text]


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


# ---- payloads -------------------------------------------------------------------------------


def test_a_simulated_call_is_created_two_participants_one_event_per_utterance_and_closed():
    call = simulated_call(CALL, start=START, account_sid=ACCOUNT)
    types = [event.event_type for event in call.events]

    assert len(call.events) == len(spoken(CALL)) + 4
    assert types == [
        "CONVERSATION_CREATED",
        "PARTICIPANT_ADDED",
        "PARTICIPANT_ADDED",
        *["COMMUNICATION_CREATED"] * len(spoken(CALL)),
        "CONVERSATION_UPDATED",
    ]
    created, customer, agent = (event.payload["data"] for event in call.events[:3])
    closed = call.events[-1].payload["data"]
    assert created["status"] == "ACTIVE" and closed["status"] == "CLOSED"
    assert created["id"] == closed["id"] == call.conversation_id
    assert call.conversation_id.startswith("conv_conversation_sim")
    assert (customer["type"], customer["name"]) == ("CUSTOMER", CALL.caller_name)
    assert (agent["type"], agent["name"]) == ("HUMAN_AGENT", CALL.agent_name)
    assert customer["addresses"][0]["address"] == CALL.caller_address
    assert {event.payload["data"]["accountId"] for event in call.events} == {ACCOUNT}


def test_every_utterance_is_a_voice_transcription_on_a_fresh_call_sid():
    call = simulated_call(CALL, start=START)
    communications = [e.payload["data"] for e in call.events[3:-1]]
    author_of = {"caller": call.customer_id, "agent": call.agent_id}

    assert re.fullmatch(r"CA[0-9a-f]{32}", call.call_sid)
    assert call.call_sid != CALL.call_sid  # the loaded demo call keeps its own
    assert Counter(c["content"]["text"] for c in communications) == Counter(
        s.text for s in spoken(CALL)
    )
    for data in communications:
        segment = next(s for s in spoken(CALL) if s.text == data["content"]["text"])
        assert data["content"]["type"] == "TRANSCRIPTION"
        assert data["channelId"] == call.call_sid
        assert data["author"]["channel"] == "VOICE"
        assert data["author"]["participantId"] == author_of[segment.role]
        assert data["recipients"][0]["participantId"] != data["author"]["participantId"]
        assert data["conversationId"] == call.conversation_id


def test_ids_are_unique_within_a_call_and_fresh_on_every_run():
    first = simulated_call(CALL, start=START)
    second = simulated_call(CALL, start=START)

    def ids(call):
        return {e.payload["data"]["id"] for e in call.events} | {call.call_sid}

    communication_ids = [e.payload["data"]["id"] for e in first.events[3:-1]]
    tokens = [e.idempotency_token for e in first.events]
    assert len(set(communication_ids)) == len(communication_ids)
    assert len(set(tokens)) == len(tokens)
    assert len(ids(first)) == len(spoken(CALL)) + 4  # conversation, 2 participants, call SID
    assert not ids(first) & ids(second)


def test_timestamps_start_now_increase_strictly_and_follow_the_time_scale():
    real = simulated_call(CALL, start=START, speed=1)
    fast = simulated_call(CALL, start=START, speed=10)
    duration = timedelta(milliseconds=CALL.end_time_ms - CALL.start_time_ms)

    for call in (real, fast):
        moments = [parse(e.payload["timestamp"]) for e in call.events]
        assert moments[0] == START
        assert all(a < b for a, b in itertools.pairwise(moments))
        assert [e.offset_ms for e in call.events] == sorted({e.offset_ms for e in call.events})
        updated = [parse(e.payload["data"]["updatedAt"]) for e in call.events]
        assert updated == moments
    assert parse(real.events[-1].payload["timestamp"]) == START + duration
    assert real.events[-1].due == pytest.approx(duration.total_seconds())
    assert fast.events[-1].due == pytest.approx(duration.total_seconds() / 10, abs=0.01)
    for event in real.events[3:-1]:
        data = event.payload["data"]
        assert parse(data["occurredAt"]) < parse(event.payload["timestamp"])


def test_each_event_is_signed_as_twilio_signs_json_webhooks():
    call = simulated_call(CALL, start=START)
    validator = RequestValidator(AUTH_TOKEN)

    for event in call.events:
        request = sign(event, base_url="https://portal.example.com/", token=AUTH_TOKEN)
        body = request.body.decode()
        url = urlsplit(request.url)
        assert f"{url.scheme}://{url.netloc}{url.path}" == (
            "https://portal.example.com/webhooks/twilio/orchestrator"
        )
        assert parse_qs(url.query)["bodySHA256"] == [validator.compute_hash(body)]
        assert validator.validate(request.url, body, request.headers["X-Twilio-Signature"])
        assert not RequestValidator("another-token").validate(
            request.url, body, request.headers["X-Twilio-Signature"]
        )
        assert json.loads(body) == event.payload
        assert request.headers["I-Twilio-Idempotency-Token"] == event.idempotency_token


# ---- against a running portal ---------------------------------------------------------------


@pytest.fixture
def portal(live_server, transactional_db, settings):
    settings.TWILIO_AUTH_TOKENS = [f"{ACCOUNT}:{AUTH_TOKEN}"]
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def simulate_calls(**options) -> str:
    out = StringIO()
    call_command("simulate_calls", stdout=out, **options)
    return out.getvalue()


def test_simulated_calls_arrive_closed_with_their_transcripts_and_linked_agents(portal):
    demo_load()

    output = simulate_calls(url=portal.url, calls=2, concurrency=2, speed=1000, seed=1)
    inbox_drain(max_seconds=60)

    simulated = Conversation.objects.filter(twilio_id__startswith="conv_conversation_sim")
    assert simulated.count() == 2
    expected_events = 0
    for conversation in simulated:
        assert conversation.status == ConversationStatus.CLOSED
        assert conversation.ended_at is not None
        assert len(conversation.call_sids) == 1
        assert conversation.call_sids[0] not in {call.call_sid for call in CALLS}
        customer = Participant.objects.get(conversation=conversation, type=ParticipantType.CUSTOMER)
        agent = Participant.objects.select_related("agent").get(
            conversation=conversation, type=ParticipantType.HUMAN_AGENT
        )
        assert agent.agent is not None
        assert agent.agent.display_name == agent.name
        assert agent.agent.identities.filter(kind=IdentityKind.NAME, value=agent.name).exists()
        assert conversation.team_id == agent.agent.team_id
        sources = [
            call
            for call in CALLS
            if (call.agent_name, call.caller_name) == (agent.name, customer.name)
        ]
        communications = Communication.objects.filter(conversation=conversation)
        assert communications.count() in {len(spoken(call)) for call in sources}
        assert set(communications.values_list("content_type", flat=True)) == {
            ContentType.TRANSCRIPTION
        }
        assert not communications.filter(author__isnull=True).exists()
        expected_events += communications.count() + 4

    events = InboundEvent.objects.filter(body__contains="conv_conversation_sim")
    assert events.count() == expected_events
    assert set(events.values_list("status", flat=True)) == {"processed"}
    assert all(events.values_list("signature_valid", flat=True))
    assert output.count(" started: ") == 2
    assert output.count(" finished: ") == 2
    assert f"{expected_events} events sent, {expected_events} acknowledged" in output
    assert "0 errors" in output


def test_a_token_the_portal_does_not_know_fails_with_a_signature_message(portal):
    with pytest.raises(CommandError, match="signature") as failure:
        simulate_calls(url=portal.url, calls=1, speed=1000, token="not-the-portal-token")

    assert "TWILIO_AUTH_TOKENS" in str(failure.value)
    # Refused for their signature: kept as rejected, without their bodies (docs/security.md).
    events = InboundEvent.objects.filter(url__contains="/webhooks/twilio/")
    assert set(events.values_list("status", "signature_valid", "body")) == {("rejected", False, "")}
    assert not Conversation.objects.filter(twilio_id__startswith="conv_conversation_sim").exists()


def test_an_unreachable_portal_fails_with_a_clear_message(monkeypatch, settings):
    monkeypatch.setattr(simulator, "BACKOFF_SECONDS", 0.01)
    settings.TWILIO_AUTH_TOKENS = [AUTH_TOKEN]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(CommandError, match="Cannot reach the portal"):
        simulate_calls(url=f"http://127.0.0.1:{port}", calls=1, speed=1000)


def test_without_any_token_the_command_says_what_to_set(settings):
    settings.TWILIO_AUTH_TOKENS = []

    with pytest.raises(CommandError, match="TWILIO_AUTH_TOKENS"):
        simulate_calls(calls=1)


# ---- make run -------------------------------------------------------------------------------


@pytest.fixture
def external_services(monkeypatch, tmp_path):
    """Servers "already running", so prepare_environment starts nothing."""
    monkeypatch.setenv("CCPORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused@/ccportal")
    monkeypatch.setenv("REDIS_URL", "redis://unused")
    monkeypatch.delenv("TWILIO_AUTH_TOKENS", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    return tmp_path


def test_make_run_signs_with_a_local_token_kept_across_runs(external_services):
    with ExitStack() as stack:
        first = devstack.prepare_environment("run", stack)
        second = devstack.prepare_environment("run", stack)

    token_file = external_services / "run" / "twilio_token"
    assert re.fullmatch(r"[0-9a-f]{32}", first["TWILIO_AUTH_TOKENS"])
    assert second["TWILIO_AUTH_TOKENS"] == first["TWILIO_AUTH_TOKENS"] == token_file.read_text()
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_make_run_keeps_a_configured_token_and_tests_get_none(external_services, monkeypatch):
    with ExitStack() as stack:
        assert "TWILIO_AUTH_TOKENS" not in devstack.prepare_environment("test", stack)
        monkeypatch.setenv("TWILIO_AUTH_TOKENS", "AC1:mine")
        assert devstack.prepare_environment("run", stack)["TWILIO_AUTH_TOKENS"] == "AC1:mine"
    assert not (external_services / "run" / "twilio_token").exists()
