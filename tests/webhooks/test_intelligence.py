"""Conversation Intelligence rule-execution webhooks, as Twilio sends them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from apps.conversations.models import Call, Conversation
from apps.intelligence.models import OperatorResult
from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import INTELLIGENCE, ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db

CONV = "conv_conversation_01ktbbbbbbbbbbbbbbbbbbbbbb"
CALL = "CA0123456789abcdef0123456789abcdef"
SENTIMENT = "intelligence_operatorresult_01ktiiiiiiiiiiiiiiiiiiiiii"
SUMMARY = "intelligence_operatorresult_01ktkkkkkkkkkkkkkkkkkkkkkk"


def deliver(twilio, payload=None, **kwargs):
    response = post_json(twilio, INTELLIGENCE, payload or fixture("rule_execution"), **kwargs)
    assert response.status_code == 200, response.content
    return response


def one_result(**changes):
    """The rule-execution fixture with only its first result, changed by ``changes``."""
    payload = fixture("rule_execution")
    payload["operatorResults"] = [{**payload["operatorResults"][0], **changes}]
    return payload


def test_rule_execution_stores_every_field_of_each_operator_result(twilio, drain):
    deliver(twilio)
    drain()
    sentiment = OperatorResult.objects.get(result_id=SENTIMENT)
    assert sentiment.source == "twilio"
    assert sentiment.conversation.twilio_id == CONV
    assert sentiment.account_id == "AC00000000000000000000000000000000"
    assert sentiment.operator_id == "intelligence_operator_01kcrvw16kfa88qvgrfmr7y151"
    assert sentiment.operator_name == "Sentiment"
    assert sentiment.operator_version == "2"
    assert sentiment.operator_parameters is None
    assert sentiment.output_format == "CLASSIFICATION"
    assert sentiment.result == {"label": "negative"}
    assert sentiment.trigger_on == "COMMUNICATION"
    assert sentiment.trigger_at == datetime(2026, 5, 18, 20, 43, 9, 500_000, tzinfo=UTC)
    assert sentiment.date_created == datetime(2026, 5, 18, 20, 43, 10, 101_355, tzinfo=UTC)
    assert sentiment.communication_first == "conv_communication_01ktdddddddddddddddddddddd"
    assert sentiment.communication_last == "conv_communication_01ktjjjjjjjjjjjjjjjjjjjjjj"
    assert sentiment.channels == ["VOICE"]
    assert sentiment.reference_ids == [CALL]
    assert sentiment.call_sid == CALL
    assert sentiment.participants == [
        {
            "id": "conv_participant_01ktaaaaaaaaaaaaaaaaaaaaaa",
            "profileId": "mem_profile_01ktcccccccccccccccccccccc",
            "type": "CUSTOMER",
        },
        {
            "id": "conv_participant_01kteeeeeeeeeeeeeeeeeeeeee",
            "profileId": None,
            "type": "HUMAN_AGENT",
        },
    ]
    assert sentiment.execution_details["resolvedContext"] == {"memory": None, "knowledge": None}
    assert sentiment.metadata["system"]["resolvedModel"] == "gpt-5.4-mini"
    assert sentiment.metadata["system"]["latencyMs"] == 812
    assert sentiment.configuration_id == "intelligence_configuration_01ktgggggggggggggggggggggg"
    assert sentiment.configuration_name == "flex_cintel_plugin_demo"
    assert sentiment.configuration_version == "3"
    assert sentiment.rule_id == "intelligence_configurationrule_01kthhhhhhhhhhhhhhhhhhhhhh"

    summary = OperatorResult.objects.get(result_id=SUMMARY)
    assert summary.operator_name == "Summary"  # from friendlyName, the older samples' key
    assert summary.operator_version == "1"
    assert summary.operator_parameters == {}
    assert summary.output_format == "TEXT"
    assert summary.result == {
        "text": "Customer wants to move delivery to Friday; agent checking availability."
    }
    assert summary.date_created == datetime(2026, 5, 18, 20, 43, 10, 205_000, tzinfo=UTC)
    assert summary.participants == []

    event = InboundEvent.objects.get()
    assert (event.status, event.event_type) == ("processed", "RULE_EXECUTION")
    assert event.result["stored"] == [SENTIMENT, SUMMARY]


def test_operator_and_configuration_names_fall_back_to_friendly_name_then_name(twilio, drain):
    payload = one_result(operator={"id": "LY0123", "name": "Custom scorer", "version": 4})
    payload["intelligenceConfiguration"] = {"id": "cfg", "friendlyName": "Old config", "version": 1}
    deliver(twilio, payload)
    drain()
    result = OperatorResult.objects.get()
    assert (result.operator_id, result.operator_name, result.operator_version) == (
        "LY0123",
        "Custom scorer",
        "4",
    )
    assert (result.configuration_name, result.configuration_version) == ("Old config", "1")


def test_results_are_linked_to_the_call_named_in_their_reference_ids(twilio, drain):
    deliver(twilio)
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    assert conversation.call_sids == [CALL]
    call = Call.objects.get(call_sid=CALL)
    assert call.conversation == conversation
    assert set(conversation.operator_results.values_list("result_id", flat=True)) == {
        SENTIMENT,
        SUMMARY,
    }


def test_the_last_call_sid_of_the_reference_ids_is_the_current_leg(twilio, drain):
    deliver(
        twilio,
        one_result(referenceIds=["CAfirst", "conv_participant_x", "CAsecond", "SM0123"]),
    )
    drain()
    assert OperatorResult.objects.get().call_sid == "CAsecond"
    assert Conversation.objects.get().call_sids == ["CAsecond"]


def test_a_call_known_from_status_callbacks_is_linked_to_the_results_conversation(twilio, drain):
    Call.objects.create(call_sid=CALL, status="in-progress")
    deliver(twilio)
    drain()
    assert Call.objects.get().conversation == Conversation.objects.get(twilio_id=CONV)


# --- output formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "result", "stored_format", "stored_result"),
    [
        ("TEXT", {"text": "Caller wants Friday."}, "TEXT", {"text": "Caller wants Friday."}),
        ("TEXT", "Caller wants Friday.", "TEXT", {"text": "Caller wants Friday."}),
        (
            "JSON",
            {"score": 5, "explanation": "Polite."},
            "JSON",
            {"score": 5, "explanation": "Polite."},
        ),
        ("CLASSIFICATION", {"label": "POSITIVE"}, "CLASSIFICATION", {"label": "POSITIVE"}),
        (
            "EXTRACTION",
            {"entities": [{"text": "Friday", "label": "DATE", "beginOffset": 3, "endOffset": 9}]},
            "EXTRACTION",
            {"entities": [{"text": "Friday", "label": "DATE", "beginOffset": 3, "endOffset": 9}]},
        ),
        (
            "GENERATION",
            {"result": "Caller wants Friday."},
            "TEXT",
            {"text": "Caller wants Friday."},
        ),
        ("text", {"text": "lower case format"}, "TEXT", {"text": "lower case format"}),
    ],
)
def test_each_output_format_is_stored_in_its_current_shape(
    twilio, drain, output_format, result, stored_format, stored_result
):
    deliver(twilio, one_result(outputFormat=output_format, result=result))
    drain()
    stored = OperatorResult.objects.get()
    assert (stored.output_format, stored.result) == (stored_format, stored_result)
    assert InboundEvent.objects.get().status == "processed"


def test_an_unknown_output_format_alone_is_stored_as_ignored(twilio, drain):
    deliver(twilio, one_result(outputFormat="HOLOGRAM", result={"x": 1}))
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "ignored"
    assert event.result["ignored"] == [{"id": SENTIMENT, "outputFormat": "HOLOGRAM"}]
    assert "outputFormat" in event.result["reason"]
    assert not OperatorResult.objects.exists()


def test_an_unknown_output_format_does_not_hold_back_the_other_results(twilio, drain):
    payload = fixture("rule_execution")
    payload["operatorResults"][0]["outputFormat"] = "HOLOGRAM"
    deliver(twilio, payload)
    drain()
    assert list(OperatorResult.objects.values_list("result_id", flat=True)) == [SUMMARY]
    event = InboundEvent.objects.get()
    assert event.status == "processed"
    assert event.result["stored"] == [SUMMARY]
    assert event.result["ignored"] == [{"id": SENTIMENT, "outputFormat": "HOLOGRAM"}]


# --- delivered twice -> one effect --------------------------------------------------------------


def test_same_idempotency_token_twice_is_stored_once_and_acknowledged_twice(twilio, drain):
    first = deliver(twilio, idempotency_token="tok-ci-1")
    second = deliver(twilio, idempotency_token="tok-ci-1")
    assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
    drain()
    assert InboundEvent.objects.count() == 1
    assert OperatorResult.objects.count() == 2


def test_same_payload_twice_without_token_has_one_effect_by_natural_key(twilio, drain):
    deliver(twilio)
    assert deliver(twilio).json()["status"] == "duplicate"
    drain()
    assert InboundEvent.objects.count() == 1
    assert OperatorResult.objects.count() == 2


def test_same_results_under_another_token_are_not_stored_again(twilio, drain):
    deliver(twilio, idempotency_token="tok-a")
    drain()
    before = list(OperatorResult.objects.values())
    deliver(twilio, idempotency_token="tok-b")
    drain()
    assert list(OperatorResult.objects.values()) == before
    second = InboundEvent.objects.order_by("id").last()
    assert (second.status, second.result["stored"], second.result["duplicates"]) == (
        "processed",
        [],
        2,
    )


# --- out of order ---------------------------------------------------------------------------------


def test_results_before_their_conversation_create_a_placeholder_filled_later(twilio, drain):
    deliver(twilio)
    drain()
    placeholder = Conversation.objects.get(twilio_id=CONV)
    assert placeholder.is_placeholder
    assert placeholder.started_at == datetime(2026, 5, 18, 20, 43, 9, 500_000, tzinfo=UTC)

    assert post_json(twilio, ORCHESTRATOR, fixture("conversation_created")).status_code == 200
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    assert conversation.pk == placeholder.pk
    assert not conversation.is_placeholder
    assert conversation.status == "ACTIVE"
    assert conversation.started_at.isoformat() == "2026-05-18T20:41:49+00:00"
    assert conversation.call_sids == [CALL]
    assert conversation.operator_results.count() == 2


def test_results_after_the_conversation_closed_are_still_stored(twilio, drain):
    for name in ("conversation_created", "conversation_closed"):
        assert post_json(twilio, ORCHESTRATOR, fixture(name)).status_code == 200
    drain()
    deliver(twilio)
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    assert conversation.status == "CLOSED"
    assert conversation.operator_results.count() == 2


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**fixture("rule_execution"), "conversationId": None}, "'conversationId' is missing"),
        (one_result(id=""), "operatorResults[0]: required field 'id' is missing"),
        (one_result(operator={"displayName": "Sentiment"}), "'operator.id' is missing"),
        (
            {**fixture("rule_execution"), "operatorResults": None},
            "'operatorResults' must be a list",
        ),
    ],
)
def test_missing_required_fields_fail_the_event_with_a_clear_error(twilio, drain, payload, message):
    deliver(twilio, payload)
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert message in event.error
    assert not OperatorResult.objects.exists()
    assert not Conversation.objects.exists()


def test_one_bad_result_fails_the_whole_execution_so_a_replay_is_clean(twilio, drain):
    payload = fixture("rule_execution")
    del payload["operatorResults"][1]["operator"]["id"]
    deliver(twilio, payload)
    drain()
    assert InboundEvent.objects.get().status == "failed"
    assert not OperatorResult.objects.exists()


def test_bad_signature_is_refused_with_403_and_nothing_is_processed(twilio, drain):
    response = post_json(twilio, INTELLIGENCE, fixture("rule_execution"), signature="bm90IGl0")
    assert response.status_code == 403
    assert "signature" in response.json()["error"]
    drain()
    event = InboundEvent.objects.get()
    assert (event.status, event.signature_valid) == ("rejected", False)
    assert not OperatorResult.objects.exists()


def test_a_body_signed_with_an_unknown_token_is_refused(twilio, drain):
    response = post_json(
        twilio, INTELLIGENCE, fixture("rule_execution"), token="00000000000000000000000000000000"
    )
    assert response.status_code == 403
    drain()
    assert not OperatorResult.objects.exists()


def test_malformed_json_is_400_and_kept_as_rejected(twilio, drain):
    response = post_json(twilio, INTELLIGENCE, None, body='{"conversationId": "conv_x", ')
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["error"]
    drain()
    event = InboundEvent.objects.get()
    assert (event.status, event.signature_valid) == ("rejected", True)
    assert not OperatorResult.objects.exists()


def test_json_that_is_not_an_object_is_400(twilio):
    response = post_json(twilio, INTELLIGENCE, None, body=json.dumps([fixture("rule_execution")]))
    assert response.status_code == 400


@pytest.mark.parametrize("results", [7, "abc", {"id": "x"}, True])
def test_operator_results_that_are_not_a_list_are_stored_and_fail_without_a_500(
    twilio, drain, results
):
    # Found by tests/webhooks/test_fuzz.py: a number was a TypeError (500) in the idempotency key.
    response = post_json(
        twilio, INTELLIGENCE, {"conversationId": "conv_x", "operatorResults": results}
    )
    assert response.status_code == 200
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert "operatorResults" in event.error
