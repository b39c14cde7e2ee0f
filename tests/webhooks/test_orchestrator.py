"""Conversation Orchestrator status callbacks, as Twilio sends them."""

from __future__ import annotations

import json

import pytest

from apps.conversations.models import Call, Communication, Conversation, Participant
from apps.webhooks.models import InboundEvent
from tests.fixtures import builders
from tests.fixtures.twilio import ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db

CONV = "conv_conversation_01ktbbbbbbbbbbbbbbbbbbbbbb"


def deliver(twilio, fixture_name, **overrides):
    response = post_json(twilio, ORCHESTRATOR, fixture(fixture_name, **overrides))
    assert response.status_code == 200, response.content
    return response


def test_conversation_created_stores_the_conversation(twilio, drain):
    deliver(twilio, "conversation_created")
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    assert conversation.status == "ACTIVE"
    assert conversation.account_id == "AC00000000000000000000000000000000"
    assert conversation.configuration_id == "conv_configuration_01ktffffffffffffffffffffff"
    assert conversation.started_at.isoformat() == "2026-05-18T20:41:49+00:00"
    assert not conversation.is_placeholder
    assert InboundEvent.objects.get().status == "processed"


def test_event_is_stored_before_processing_and_acknowledged(twilio):
    response = deliver(twilio, "conversation_created")
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "accepted", "event": event.pk}
    assert event.status == "pending"
    assert event.signature_valid
    assert event.event_type == "CONVERSATION_CREATED"
    assert json.loads(event.body) == fixture("conversation_created")
    assert event.headers["X-Twilio-Signature"]
    assert not Conversation.objects.exists()


def test_conversation_closed_sets_status_and_end(twilio, drain):
    deliver(twilio, "conversation_created")
    deliver(twilio, "conversation_closed")
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    assert conversation.status == "CLOSED"
    assert conversation.ended_at.isoformat() == "2026-05-18T21:10:00+00:00"


def test_participants_added_updated_and_removed(twilio, drain):
    deliver(twilio, "conversation_created")
    deliver(twilio, "participant_added")
    deliver(twilio, "participant_added", name="Pat Customer", updatedAt="2026-05-18T20:45:00Z")
    post_json(
        twilio,
        ORCHESTRATOR,
        {
            **fixture("participant_added", name="Pat Customer", updatedAt="2026-05-18T20:50:00Z"),
            "eventType": "PARTICIPANT_REMOVED",
            "timestamp": "2026-05-18T20:50:00Z",
        },
    )
    drain()
    participant = Participant.objects.get(twilio_id="conv_participant_01ktaaaaaaaaaaaaaaaaaaaaaa")
    assert participant.type == "CUSTOMER"
    assert participant.name == "Pat Customer"
    assert participant.profile_id == "mem_profile_01ktcccccccccccccccccccccc"
    assert participant.addresses[0]["address"] == "+15551230000"
    assert participant.left_at.isoformat() == "2026-05-18T20:50:00+00:00"


def test_agent_participant_is_linked_to_the_agent_by_name_and_gives_the_team(twilio, drain, world):
    deliver(twilio, "conversation_created")
    deliver(twilio, "agent_added")
    drain()
    participant = Participant.objects.get(twilio_id="conv_participant_01kteeeeeeeeeeeeeeeeeeeeee")
    assert participant.agent == world.agent
    assert Conversation.objects.get(twilio_id=CONV).team == world.north


def test_agent_identity_by_address_beats_a_name_match(twilio, drain, world):
    builders.make_agent(
        name="Someone Else", team=world.south, identities={"address": "client:alice"}
    )
    deliver(twilio, "agent_added")
    drain()
    assert (
        Participant.objects.get(
            twilio_id="conv_participant_01kteeeeeeeeeeeeeeeeeeeeee"
        ).agent.display_name
        == "Someone Else"
    )


def test_voice_transcription_is_stored_with_call_sid_and_offset(twilio, drain):
    deliver(twilio, "conversation_created")
    deliver(twilio, "participant_added")
    deliver(twilio, "communication_created")
    drain()
    line = Communication.objects.get()
    assert line.text == "Hi, I need to move my delivery date."
    assert line.content_type == "TRANSCRIPTION"
    assert line.channel == "VOICE"
    assert line.confidence == pytest.approx(0.93)
    assert line.duration_ms == 2400
    assert line.offset_ms == 14_000
    assert line.author.twilio_id == "conv_participant_01ktaaaaaaaaaaaaaaaaaaaaaa"
    conversation = line.conversation
    assert conversation.channels == ["VOICE"]
    assert conversation.call_sids == ["CA0123456789abcdef0123456789abcdef"]
    assert Call.objects.get().conversation == conversation


def test_text_message_communication(twilio, drain):
    deliver(
        twilio,
        "communication_created",
        id="conv_communication_sms1",
        author={"address": "+15551230000", "channel": "SMS", "participantId": "conv_participant_x"},
        content={"type": "TEXT", "text": "Can I change my order?"},
        channelId="SM0123",
    )
    drain()
    line = Communication.objects.get()
    assert (line.channel, line.content_type, line.channel_id) == ("SMS", "TEXT", "SM0123")
    assert Call.objects.count() == 0


def test_communication_updated_replaces_text_of_the_same_communication(twilio, drain):
    deliver(twilio, "communication_created")
    deliver(
        twilio,
        "communication_created",
        content={"type": "TRANSCRIPTION", "text": "Corrected text"},
        updatedAt="2026-05-18T20:42:09Z",
    )
    drain()
    assert list(Communication.objects.values_list("text", flat=True)) == ["Corrected text"]


def test_pii_in_a_communication_is_masked_before_it_is_stored(twilio, drain):
    deliver(
        twilio,
        "communication_created",
        content={
            "type": "TEXT",
            "text": "my card is 4111 1111 1111 1111 and mail me at pat@example.com",
        },
    )
    drain()
    text = Communication.objects.get().text
    assert "4111" not in text and "pat@example.com" not in text
    assert "[CARD]" in text and "[EMAIL]" in text


# --- delivered twice -> one effect --------------------------------------------------------------


def test_same_idempotency_token_twice_is_stored_once_and_acknowledged_twice(twilio, drain):
    payload = fixture("communication_created")
    first = post_json(twilio, ORCHESTRATOR, payload, idempotency_token="tok-1")
    second = post_json(twilio, ORCHESTRATOR, payload, idempotency_token="tok-1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "duplicate"
    drain()
    assert InboundEvent.objects.count() == 1
    assert Communication.objects.count() == 1


def test_same_event_twice_without_token_has_one_effect_by_natural_key(twilio, drain):
    deliver(twilio, "conversation_created")
    deliver(twilio, "conversation_created")
    drain()
    assert InboundEvent.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_replaying_processed_events_changes_nothing(twilio, drain):
    for name in (
        "conversation_created",
        "participant_added",
        "communication_created",
        "conversation_closed",
    ):
        deliver(twilio, name)
    drain()
    before = list(Communication.objects.values()) + list(
        Conversation.objects.values("status", "ended_at")
    )
    from apps.webhooks.services import inbox_replay

    assert inbox_replay(status="processed") == 4
    drain()
    after = list(Communication.objects.values()) + list(
        Conversation.objects.values("status", "ended_at")
    )
    assert before == after


# --- out of order ---------------------------------------------------------------------


def test_communication_before_its_conversation_creates_a_placeholder_that_is_filled_later(
    twilio, drain
):
    deliver(twilio, "communication_created")
    drain()
    placeholder = Conversation.objects.get(twilio_id=CONV)
    assert placeholder.is_placeholder
    assert Participant.objects.get().type == "UNKNOWN"

    deliver(twilio, "participant_added")
    deliver(twilio, "conversation_created")
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    assert not conversation.is_placeholder
    assert conversation.started_at.isoformat() == "2026-05-18T20:41:49+00:00"
    assert Participant.objects.get().type == "CUSTOMER"
    assert Communication.objects.get().offset_ms == 14_000


def test_an_older_update_never_overwrites_newer_state(twilio, drain):
    deliver(twilio, "conversation_closed")
    drain()
    deliver(twilio, "conversation_created")
    deliver(twilio, "conversation_created", status="INACTIVE", updatedAt="2026-05-18T20:55:00Z")
    drain()
    assert Conversation.objects.get(twilio_id=CONV).status == "CLOSED"


def test_inactive_conversation_becomes_active_again(twilio, drain):
    deliver(twilio, "conversation_created", status="INACTIVE", updatedAt="2026-05-18T20:50:00Z")
    deliver(twilio, "conversation_created", status="ACTIVE", updatedAt="2026-05-18T20:51:00Z")
    drain()
    assert Conversation.objects.get(twilio_id=CONV).status == "ACTIVE"


# --- bad input ------------------------------------------------------------------------


def test_bad_signature_is_refused_with_403_and_nothing_is_processed(twilio, drain):
    response = post_json(
        twilio, ORCHESTRATOR, fixture("conversation_created"), signature="bm90IGl0"
    )
    assert response.status_code == 403
    assert "signature" in response.json()["error"]
    drain()
    event = InboundEvent.objects.get()
    assert (event.status, event.signature_valid) == ("rejected", False)
    assert not Conversation.objects.exists()


def test_a_body_changed_after_signing_is_refused(twilio):
    payload = fixture("conversation_created")
    good = post_json(twilio, ORCHESTRATOR, payload)
    assert good.status_code == 200
    from twilio.request_validator import RequestValidator

    from tests.fixtures.twilio import AUTH_TOKEN

    signed_body = json.dumps(payload)
    tampered = signed_body.replace("ACTIVE", "CLOSED")
    validator = RequestValidator(AUTH_TOKEN)
    path = f"{ORCHESTRATOR}?bodySHA256={validator.compute_hash(signed_body)}"
    signature = validator.compute_signature(f"https://portal.example.com{path}", {})
    response = twilio.post(
        path, data=tampered, content_type="application/json", HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403


def test_malformed_json_is_400_and_kept_as_rejected(twilio):
    response = post_json(twilio, ORCHESTRATOR, None, body='{"eventType": "CONVERSATION_CREATED", ')
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["error"]
    event = InboundEvent.objects.get()
    assert event.status == "rejected"
    assert event.body.startswith('{"eventType"')


def test_json_that_is_not_an_object_is_400(twilio):
    response = post_json(twilio, ORCHESTRATOR, [1, 2, 3])
    assert response.status_code == 400


def test_body_over_one_mebibyte_is_413(twilio):
    payload = fixture(
        "communication_created", content={"type": "TEXT", "text": "x" * (1024 * 1024)}
    )
    response = post_json(twilio, ORCHESTRATOR, payload)
    assert response.status_code == 413
    assert InboundEvent.objects.get().status == "rejected"


def test_unknown_event_type_is_stored_as_ignored_and_acknowledged(twilio, drain):
    response = post_json(
        twilio,
        ORCHESTRATOR,
        {"eventType": "CONVERSATION_EXPLODED", "timestamp": "x", "data": {"id": "c1"}},
    )
    assert response.status_code == 200
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "ignored"
    assert "CONVERSATION_EXPLODED" in event.result["reason"]


def test_missing_fields_are_stored_as_failed_with_a_clear_error(twilio, drain):
    deliver(twilio, "communication_created", conversationId=None)
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert "conversationId" in event.error
    assert not Communication.objects.exists()


def test_get_is_not_allowed(twilio):
    assert twilio.get(ORCHESTRATOR).status_code == 405


def test_a_value_too_long_for_its_column_fails_the_event_without_a_retry(twilio, drain):
    # Found by tests/webhooks/test_fuzz.py: an accountId that is not an id (here an object, as
    # text longer than the column) was a DataError, retried until the event was dead.
    payload = fixture("conversation_created", accountId={"not": "an id " * 20})
    post_json(twilio, ORCHESTRATOR, payload)
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert event.attempts == 1
    assert "too long" in event.error


def test_transcription_words_that_are_not_objects_leave_no_duration(twilio, drain):
    # Found by tests/webhooks/test_fuzz.py: a last word that is a list, not an object.
    payload = fixture("communication_created")
    payload["data"]["content"]["transcription"]["words"] = [{"startTime": 1.2}, ["odd"]]
    assert post_json(twilio, ORCHESTRATOR, payload).status_code == 200
    drain()
    assert InboundEvent.objects.get().status == "processed"
    assert Communication.objects.get().duration_ms is None
