"""A customer's erasure, end to end: filed by phone number through the API, processed by the
task, and afterwards no table holds their number, their name or their words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Notification
from apps.coaching.models import EvidencePin, SessionLink
from apps.conversations.models import Call, Communication, Participant
from apps.floor.models import Tip
from apps.intelligence.models import Flag, OperatorResult
from apps.knowledge import services as knowledge
from apps.knowledge.models import CustomerProfile, Observation
from apps.live.models import LiveEvent
from apps.live.streams import live_events_after, live_publish
from apps.privacy import tasks
from apps.privacy.choices import ErasureStatus
from apps.privacy.models import ErasureRequest
from apps.relay.models import Handoff
from apps.webhooks.models import InboundEvent
from apps.wrapup.models import Wrapup
from tests.conftest import login
from tests.fixtures import builders
from tests.fixtures import qa as qa_build
from tests.fixtures.coaching_sessions import sess_plan
from tests.privacy.conftest import rows_holding

NUMBER = "+15550100199"
DIGITS = "5550100199"
PHRASE = "zebra quokka mortgage"
NAME = "Zelda Quokkason"


def _customer_conversation(world, *, version, when_hours: float) -> tuple:
    conversation = builders.make_conversation(
        agent=world.agent,
        customer_name=NAME,
        texts=[
            ("agent", "thank you for calling, how can i help"),
            ("customer", f"it is about my {PHRASE}"),
            ("agent", f"let me look at your {PHRASE} then"),
        ],
        started_at=timezone.now() - timedelta(hours=when_hours),
    )
    Participant.objects.filter(conversation=conversation, type="CUSTOMER").update(
        addresses=[{"channel": "VOICE", "address": NUMBER}]
    )
    Communication.objects.filter(conversation=conversation, author__type="CUSTOMER").update(
        author_address=NUMBER
    )
    Call.objects.create(
        call_sid=conversation.call_sids[0],
        conversation=conversation,
        from_number=NUMBER,
        to_number="+15559990000",
    )
    knowledge.profiles_link(conversation_id=conversation.pk)
    result = OperatorResult.objects.create(
        result_id=f"LR{conversation.pk}",
        conversation=conversation,
        operator_id="LY_summary",
        operator_name="Summary",
        output_format="TEXT",
        result={"text": f"Caller {NAME} asked about a {PHRASE}", "label": "billing"},
        raw_output=f"{NAME}: {PHRASE}",
    )
    Flag.objects.create(conversation=conversation, reason=f"Customer mentioned {PHRASE}")
    Handoff.objects.create(
        call_sid=conversation.call_sids[0],
        session_id="VX1",
        conversation=conversation,
        summary=f"{NAME} wants to discuss a {PHRASE}",
        reason="billing question",
        session_status="ended",
        from_number=NUMBER,
    )
    Wrapup.objects.create(
        conversation=conversation,
        ai_summary=f"Customer asked about {PHRASE}",
        summary=f"Discussed the {PHRASE}",
        topic="billing",
        saved_at=timezone.now(),
    )
    Tip.objects.create(
        conversation=conversation, author=world.supervisor, text=f"ask about {PHRASE}"
    )
    review = qa_build.rated_review(version, conversation, {"greeting": ("MET", "MET")})
    review.current_revision.answers.update(comment=f"Customer said “{PHRASE}”")
    type(review.current_revision).objects.filter(pk=review.current_revision_id).update(
        strengths=f"Handled {NAME} well"
    )
    item = qa_build.manual_item(conversation, key=f"manual:{conversation.pk}", reason=PHRASE)
    Notification.objects.create(
        user=world.qa_analyst,
        kind="qa.item_assigned",
        title="A conversation to review was assigned to you",
        body=f"Flag: {PHRASE}",
        url=reverse("qa-item", args=[item.pk]),
        created_at=timezone.now(),
    )
    with transaction.atomic():
        live_publish(conversation.pk, "line", {"text": f"it is about my {PHRASE}"})
    return conversation, result, review


@pytest.fixture
def customer(world):
    version = qa_build.publish_script(world.admin)
    first, result, _ = _customer_conversation(world, version=version, when_hours=30)
    second, _, _ = _customer_conversation(world, version=version, when_hours=2)
    profile = CustomerProfile.objects.get(address=NUMBER)
    knowledge.observation_add(user=world.admin, profile=profile, text=f"Owns a {PHRASE}")
    forgotten, _ = knowledge.observation_add(user=world.admin, profile=profile, text=f"{NAME}!")
    knowledge.observation_delete(user=world.admin, observation=forgotten)
    session = sess_plan(world.coach, world.agent)
    link = SessionLink.objects.create(session=session, conversation=first, note=f"the {PHRASE}")
    EvidencePin.objects.create(
        session=session,
        link=link,
        communication=first.communications.order_by("id")[1],
        comment=f"Quoted: {PHRASE}",
    )
    InboundEvent.objects.create(
        source="voice_status",
        body=f"CallSid={first.call_sids[0]}&From=%2B1{DIGITS}&Status=completed",
        signature_valid=True,
        status="processed",
        received_at=timezone.now(),
        available_at=timezone.now(),
    )
    InboundEvent.objects.create(
        source="orchestrator",
        body=f'{{"conversationId": "{second.twilio_id}", "content": "{PHRASE}"}}',
        signature_valid=True,
        status="failed",
        received_at=timezone.now(),
        available_at=timezone.now(),
    )
    return {"conversations": [first, second], "profile": profile, "result": result}


def test_erasure_by_phone_number_leaves_no_trace_of_the_customer(world, customer):
    other_profile_count = CustomerProfile.objects.exclude(address=NUMBER).count()
    north_lines = list(world.north_call.communications.values_list("text", flat=True))
    before = rows_holding(PHRASE, DIGITS, "Quokkason")
    # The scan sees them everywhere before (a sample of the tables it must find them in).
    for column in (
        "conversations.Communication.text",
        "conversations.Participant.addresses",
        "knowledge.Observation.text",
        "knowledge.ObservationDeletion.text",
        "audit.ObservationEvent.text",  # the audit trail's snapshot of the memory
        "live.LiveEvent.payload",
        "qa.ReviewAnswer.comment",
        "coaching.EvidencePin.comment",
        "webhooks.InboundEvent.body",
        "intelligence.OperatorResult.raw_output",
        "relay.Handoff.summary",
        "wrapup.Wrapup.summary",
        "accounts.Notification.body",
        "qa.QueueItem.reason",
    ):
        assert column in before

    response = login(world.admin).post(
        "/api/privacy/erasures/",
        {"kind": "ADDRESS", "identifier": "(555) 010-0199"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    request_id = response.json()["id"]
    assert response.json()["found"]["conversations"] == 2

    assert tasks.process_erasure(request_id) == ErasureStatus.DONE

    assert rows_holding(PHRASE, DIGITS, "Quokkason") == {}
    erasure = ErasureRequest.objects.get(pk=request_id)
    assert erasure.completed_at is not None
    assert erasure.targets == {}
    assert erasure.counts["communications"] == 6  # every line with words, the agent's too
    assert erasure.counts["profiles"] == 1
    assert erasure.counts["observations"] == 1
    assert erasure.counts["live_events"] == 2
    assert erasure.counts["inbox_events"] == 2
    assert erasure.counts["operator_results"] == 2
    assert erasure.counts["reviews"] == 2
    assert erasure.counts["evidence_pins"] == 1
    assert erasure.counts["notifications"] == 2
    assert erasure.counts["queue_items"] == 2
    # The conversations and their figures stay: lines, speakers, the result's label.
    first = customer["conversations"][0]
    assert first.communications.count() == 3
    assert OperatorResult.objects.get(pk=customer["result"].pk).result["label"] == "billing"
    assert Handoff.objects.filter(conversation=first).exists()
    assert live_events_after(first.pk, after=0).gone == "purged"
    # Other customers are untouched.
    assert list(world.north_call.communications.values_list("text", flat=True)) == north_lines
    assert CustomerProfile.objects.count() == other_profile_count
    assert Observation.objects.count() == 0
    assert LiveEvent.objects.count() == 0


def test_erasure_runs_twice_with_one_effect(world, customer):
    response = login(world.admin).post(
        "/api/privacy/erasures/", {"kind": "ADDRESS", "identifier": NUMBER}, "application/json"
    )
    request_id = response.json()["id"]
    tasks.process_erasure(request_id)
    counts = ErasureRequest.objects.get(pk=request_id).counts

    assert tasks.process_erasure(request_id) == "skipped"
    again = login(world.admin).post(
        "/api/privacy/erasures/", {"kind": "ADDRESS", "identifier": NUMBER}, "application/json"
    )
    assert again.status_code == 201  # a new request for the same customer: nothing left
    tasks.process_erasure(again.json()["id"])

    assert ErasureRequest.objects.get(pk=request_id).counts == counts
    assert ErasureRequest.objects.get(pk=again.json()["id"]).total == 0


def test_erasure_resumes_after_the_step_it_died_in(world, customer, monkeypatch):
    from apps.privacy import services

    response = login(world.admin).post(
        "/api/privacy/erasures/",
        {"kind": "PROFILE", "identifier": str(customer["profile"].pk)},
        "application/json",
    )
    request_id = response.json()["id"]
    steps = dict(services.STEPS)

    def broken(targets):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(
        services, "STEPS", tuple((n, broken if n == "memory" else s) for n, s in steps.items())
    )
    with pytest.raises(RuntimeError):
        tasks.process_erasure(request_id)
    failed = ErasureRequest.objects.get(pk=request_id)
    assert failed.status == ErasureStatus.FAILED
    assert "conversations" in failed.steps_done and "memory" not in failed.steps_done
    monkeypatch.undo()

    services.erasure_retry(user=world.admin, request_id=request_id)
    assert tasks.process_erasure(request_id) == ErasureStatus.DONE

    done = ErasureRequest.objects.get(pk=request_id)
    assert done.counts["communications"] == 6  # counted once, not again on the resumed run
    assert rows_holding(PHRASE, DIGITS, "Quokkason") == {}


def test_erasure_api_is_for_admins_only(world, customer):
    for user in (world.qa_analyst, world.supervisor, world.agent_user, world.outsider):
        response = login(user).post(
            "/api/privacy/erasures/", {"kind": "ADDRESS", "identifier": NUMBER}, "application/json"
        )
        assert response.status_code == 403
    assert not ErasureRequest.objects.exists()


def test_erasure_api_rejects_an_unknown_profile_and_an_empty_identifier(world):
    client = login(world.admin)
    missing = client.post(
        "/api/privacy/erasures/", {"kind": "PROFILE", "identifier": "999999"}, "application/json"
    )
    blank = client.post(
        "/api/privacy/erasures/", {"kind": "PROFILE", "identifier": "abc"}, "application/json"
    )
    assert missing.status_code == 404
    assert blank.status_code == 400


def test_erasure_api_never_answers_a_server_error(world):
    client = login(world.admin)
    for kind in ("ADDRESS", "PROFILE", "OTHER"):
        for identifier in ("\x00", "9" * 40, "", " ", "'", "-1", "²", "a" * 300):
            response = client.post(
                "/api/privacy/erasures/",
                {"kind": kind, "identifier": identifier},
                "application/json",
            )
            assert response.status_code < 500, (kind, identifier)
            if kind != "ADDRESS":
                assert response.status_code in (400, 404), (kind, identifier)
