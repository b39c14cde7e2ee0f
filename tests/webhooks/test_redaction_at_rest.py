"""Texts that reach us outside communications are redacted as communications are, before they
are stored: Twilio's operator results, ConversationRelay handoffs, customer memory notes."""

from __future__ import annotations

import json

import pytest

from apps.intelligence.models import OperatorResult
from apps.knowledge import services as knowledge
from apps.knowledge.choices import ObservationSource
from apps.knowledge.models import CustomerProfile, Observation
from apps.relay.models import Handoff
from tests.fixtures.twilio import INTELLIGENCE, RELAY_ACTION, fixture, post_form, post_json

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"
EMAIL = "nora.north@example.com"
SAID = f"Customer read out card {CARD} and asked for mail to {EMAIL}."


def assert_redacted(text: str) -> None:
    assert "[CARD]" in text and "[EMAIL]" in text
    assert CARD not in text and EMAIL not in text


def test_twilio_operator_result_texts_are_redacted_before_they_are_stored(twilio, drain):
    payload = fixture("rule_execution")
    payload["operatorResults"][1]["result"] = {"text": SAID}
    payload["operatorResults"][0]["result"] = {"label": "negative", "evidence": [SAID]}
    assert post_json(twilio, INTELLIGENCE, payload).status_code == 200
    drain()
    summary = OperatorResult.objects.get(output_format="TEXT")
    assert_redacted(summary.result["text"])
    assert summary.metadata["redacted"] == {"CARD": 1, "EMAIL": 1}
    sentiment = OperatorResult.objects.get(output_format="CLASSIFICATION")
    assert sentiment.result["label"] == "negative"
    assert_redacted(sentiment.result["evidence"][0])
    assert sentiment.conversation.twilio_id == payload["conversationId"]  # ids untouched


def test_twilio_operator_results_are_kept_as_sent_when_redaction_is_off(twilio, drain, settings):
    settings.PII_REDACTION_ENABLED = False
    payload = fixture("rule_execution")
    payload["operatorResults"][1]["result"] = {"text": SAID}
    post_json(twilio, INTELLIGENCE, payload)
    drain()
    assert OperatorResult.objects.get(output_format="TEXT").result["text"] == SAID


def test_handoff_summary_reason_and_attributes_are_redacted(twilio):
    data = {
        "reasonCode": "live-agent-handoff",
        "reason": f"Wants to pay with {CARD}",
        "summary": SAID,
        "conversationId": "conv_conversation_01ktbbbbbbbbbbbbbbbbbbbbbb",
        "attributes": {"customerEmail": EMAIL},
    }
    params = {
        "AccountSid": "AC00000000000000000000000000000000",
        "CallSid": "CA0123456789abcdef0123456789abcdef",
        "SessionId": "VX0123456789abcdef0123456789abcdef",
        "SessionStatus": "ended",
        "From": "+15551230000",
        "To": "+15559990000",
        "HandoffData": json.dumps(data),
    }
    response = post_form(twilio, RELAY_ACTION, params)
    assert response.status_code == 200
    assert CARD not in response.content.decode() and EMAIL not in response.content.decode()
    handoff = Handoff.objects.get()
    assert_redacted(handoff.summary)
    assert handoff.reason == "Wants to pay with [CARD]"
    assert handoff.attributes["customerEmail"] == "[EMAIL]"
    assert handoff.conversation_twilio_id == data["conversationId"]


def test_memory_notes_typed_or_extracted_are_redacted(world):
    profile = CustomerProfile.objects.create(key="profile:mem_nora", profile_id="mem_nora")
    profile.conversations.add(world.north_call)

    typed, created = knowledge.observation_add(user=world.admin, profile=profile, text=SAID)
    assert created
    assert_redacted(typed.text)
    again, created = knowledge.observation_add(user=world.admin, profile=profile, text=SAID)
    assert (again.pk, created) == (typed.pk, False)  # the same note, compared redacted

    knowledge.observations_add(
        conversation_id=world.north_call.pk,
        texts=[f"Prefers email: {EMAIL}; card on file {CARD}"],
        source=ObservationSource.OPERATOR,
    )
    extracted = Observation.objects.filter(source=ObservationSource.OPERATOR)
    assert extracted.exists()
    for observation in extracted:
        assert_redacted(observation.text)
