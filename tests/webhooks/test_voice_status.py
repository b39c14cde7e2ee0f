"""Voice status callbacks (form-encoded), as Twilio sends them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from apps.conversations.models import Call, Conversation
from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import ORCHESTRATOR, VOICE_STATUS, fixture, post_form, post_json

pytestmark = pytest.mark.django_db

CALL = "CA0123456789abcdef0123456789abcdef"
CONV = "conv_conversation_01ktbbbbbbbbbbbbbbbbbbbbbb"


def status_params(status: str, sequence: int, timestamp: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC00000000000000000000000000000000",
        "CallSid": CALL,
        "CallStatus": status,
        "From": "+15551230000",
        "To": "+15559990000",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "Timestamp": timestamp,
        "SequenceNumber": str(sequence),
        **extra,
    }


RINGING = status_params("ringing", 0, "Mon, 18 May 2026 20:41:45 +0000")
IN_PROGRESS = status_params("in-progress", 1, "Mon, 18 May 2026 20:41:48 +0000")
COMPLETED = status_params(
    "completed", 2, "Mon, 18 May 2026 20:50:00 +0000", CallDuration="492", Duration="9"
)


def deliver(twilio: Client, params: dict[str, str], **kwargs: str):
    response = post_form(twilio, VOICE_STATUS, params, **kwargs)
    assert response.status_code == 200, response.content
    return response


def test_completed_ends_the_call_with_its_duration(twilio, drain):
    deliver(twilio, COMPLETED)
    drain()
    call = Call.objects.get(call_sid=CALL)
    assert call.status == "completed"
    assert call.ended_at == datetime(2026, 5, 18, 20, 50, tzinfo=UTC)
    assert call.duration_seconds == 492
    assert call.last_sequence == 2
    assert (call.from_number, call.to_number, call.direction) == (
        "+15551230000",
        "+15559990000",
        "inbound",
    )
    event = InboundEvent.objects.get()
    assert (event.status, event.event_type) == ("processed", "CALL_COMPLETED")
    assert event.account_sid == "AC00000000000000000000000000000000"


def test_event_is_stored_before_processing_and_acknowledged(twilio):
    response = deliver(twilio, COMPLETED)
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "accepted", "event": event.pk}
    assert (event.source, event.status, event.signature_valid) == ("voice_status", "pending", True)
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    ("params", "started_at"),
    [
        (RINGING, datetime(2026, 5, 18, 20, 41, 45, tzinfo=UTC)),
        (IN_PROGRESS, datetime(2026, 5, 18, 20, 41, 48, tzinfo=UTC)),
    ],
)
def test_ringing_or_in_progress_starts_the_call(twilio, drain, params, started_at):
    deliver(twilio, params)
    drain()
    call = Call.objects.get(call_sid=CALL)
    assert call.status == params["CallStatus"]
    assert call.started_at == started_at
    assert call.ended_at is None


def test_a_call_walks_through_its_statuses(twilio, drain):
    for params in (RINGING, IN_PROGRESS, COMPLETED):
        deliver(twilio, params)
    drain()
    call = Call.objects.get(call_sid=CALL)
    assert call.status == "completed"
    assert call.started_at == datetime(2026, 5, 18, 20, 41, 45, tzinfo=UTC)
    assert call.ended_at == datetime(2026, 5, 18, 20, 50, tzinfo=UTC)
    assert list(InboundEvent.objects.values_list("status", flat=True)) == ["processed"] * 3


# --- delivered twice -> one effect --------------------------------------------------------------


def test_same_callback_twice_is_one_event_and_one_effect(twilio, drain):
    first = deliver(twilio, COMPLETED)
    second = deliver(twilio, COMPLETED)
    assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
    drain()
    assert InboundEvent.objects.count() == 1
    assert Call.objects.get().ended_at == datetime(2026, 5, 18, 20, 50, tzinfo=UTC)


def test_same_idempotency_token_twice_is_stored_once(twilio, drain):
    deliver(twilio, COMPLETED, idempotency_token="tok-voice-1")
    assert (
        deliver(twilio, COMPLETED, idempotency_token="tok-voice-1").json()["status"] == "duplicate"
    )
    drain()
    assert InboundEvent.objects.count() == 1
    assert Call.objects.count() == 1


def test_replaying_a_processed_callback_changes_nothing(twilio, drain):
    deliver(twilio, RINGING)
    deliver(twilio, COMPLETED)
    drain()
    before = list(Call.objects.values())
    from apps.webhooks.services import inbox_replay

    assert inbox_replay(status="processed") == 2
    drain()
    assert list(Call.objects.values()) == before


# --- out of order ---------------------------------------------------------------------------------


def test_a_late_ringing_after_completed_changes_nothing(twilio, drain):
    deliver(twilio, IN_PROGRESS)
    deliver(twilio, COMPLETED)
    drain()
    before = Call.objects.values().get()
    deliver(twilio, RINGING)
    drain()
    assert Call.objects.values().get() == before
    assert Call.objects.get().status == "completed"


def test_an_older_sequence_number_is_ignored_while_the_call_is_live(twilio, drain):
    deliver(twilio, IN_PROGRESS)
    drain()
    deliver(twilio, RINGING)
    drain()
    call = Call.objects.get()
    assert (call.status, call.last_sequence) == ("in-progress", 1)
    assert call.started_at == datetime(2026, 5, 18, 20, 41, 48, tzinfo=UTC)


def test_a_call_known_before_its_conversation_is_linked_by_the_communication_channel_id(
    twilio, drain
):
    deliver(twilio, COMPLETED)
    drain()
    assert Call.objects.get().conversation is None

    assert post_json(twilio, ORCHESTRATOR, fixture("communication_created")).status_code == 200
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    call = Call.objects.get()
    assert call.conversation == conversation
    assert call.status == "completed"
    assert conversation.call_sids == [CALL]


def test_a_conversation_known_before_the_call_status_keeps_its_link(twilio, drain):
    assert post_json(twilio, ORCHESTRATOR, fixture("communication_created")).status_code == 200
    drain()
    deliver(twilio, COMPLETED)
    drain()
    call = Call.objects.get()
    assert call.conversation == Conversation.objects.get(twilio_id=CONV)
    assert (call.status, call.duration_seconds) == ("completed", 492)


# --- bad input ------------------------------------------------------------------------------------


def test_missing_call_sid_is_stored_as_failed_with_a_clear_error(twilio, drain):
    params = {k: v for k, v in COMPLETED.items() if k != "CallSid"}
    deliver(twilio, params)
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert "CallSid" in event.error
    assert not Call.objects.exists()


def test_bad_signature_is_refused_with_403_and_nothing_is_processed(twilio, drain):
    response = post_form(twilio, VOICE_STATUS, COMPLETED, signature="bm90IGl0")
    assert response.status_code == 403
    assert "signature" in response.json()["error"]
    drain()
    event = InboundEvent.objects.get()
    assert (event.status, event.signature_valid) == ("rejected", False)
    assert not Call.objects.exists()


def test_params_signed_with_an_unknown_token_are_refused(twilio, drain):
    response = post_form(twilio, VOICE_STATUS, COMPLETED, token="00000000000000000000000000000000")
    assert response.status_code == 403
    drain()
    assert not Call.objects.exists()


def test_a_param_changed_after_signing_is_refused(twilio):
    from twilio.request_validator import RequestValidator

    from tests.fixtures.twilio import AUTH_TOKEN

    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"https://portal.example.com{VOICE_STATUS}", RINGING
    )
    response = post_form(twilio, VOICE_STATUS, COMPLETED, signature=signature)
    assert response.status_code == 403
