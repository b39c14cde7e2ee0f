"""ConversationRelay ``<Connect action>`` callbacks (form-encoded), answered with TwiML."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from apps.conversations.models import Call, Conversation
from apps.relay.models import Handoff
from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import ORCHESTRATOR, RELAY_ACTION, fixture, post_form, post_json

pytestmark = pytest.mark.django_db

CALL = "CA0123456789abcdef0123456789abcdef"
CONV = "conv_conversation_01ktbbbbbbbbbbbbbbbbbbbbbb"
SESSION = "VX0123456789abcdef0123456789abcdef"
WORKFLOW = "WW0123456789abcdef0123456789abcdef"

HANDOFF_DATA = {
    "reasonCode": "live-agent-handoff",
    "reason": "billing dispute",
    "callSummary": "Caller disputes a $42 charge on the May invoice.",
    "sentiment": "negative",
    "conversationId": CONV,
    "department": "billing",
    "orderId": "A-1042",
    "vip": True,
}
TAC_HANDOFF_DATA = {
    "conversationId": CONV,
    "storeId": "mem_store_01ktllllllllllllllllllllll",
    "profileId": "mem_profile_01ktcccccccccccccccccccccc",
    "attributes": {
        "reason": "Customer disputes a charge",
        "department": "support",
        "priority": "normal",
    },
}


def action(
    session_status: str = "ended", handoff_data: Any = HANDOFF_DATA, **extra: str
) -> dict[str, str]:
    params = {
        "AccountSid": "AC00000000000000000000000000000000",
        "ApiVersion": "2010-04-01",
        "ApplicationSid": "AP0123456789abcdef0123456789abcdef",
        "CallSid": CALL,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": "+15551230000",
        "To": "+15559990000",
        "SessionId": SESSION,
        "SessionStatus": session_status,
        "SessionDuration": "94",
        **extra,
    }
    if handoff_data is not None:
        params["HandoffData"] = (
            handoff_data if isinstance(handoff_data, str) else json.dumps(handoff_data)
        )
    return params


def deliver(twilio, params: dict[str, str], **kwargs: Any):
    response = post_form(twilio, RELAY_ACTION, params, **kwargs)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return response


def twiml(response) -> ET.Element:
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def enqueued_task(response) -> tuple[ET.Element, ET.Element, dict[str, Any]]:
    root = twiml(response)
    enqueue = root.find("Enqueue")
    assert enqueue is not None, response.content
    task = enqueue.find("Task")
    assert task is not None, response.content
    return enqueue, task, json.loads(task.text)


def test_ended_with_handoff_data_records_the_handoff_and_enqueues_a_task(twilio):
    response = deliver(twilio, action())
    handoff = Handoff.objects.get()
    assert (handoff.call_sid, handoff.session_id, handoff.session_status) == (
        CALL,
        SESSION,
        "ended",
    )
    assert handoff.session_duration == 94
    assert (handoff.from_number, handoff.to_number) == ("+15551230000", "+15559990000")
    assert handoff.reason_code == "live-agent-handoff"
    assert handoff.reason == "billing dispute"
    assert handoff.summary == "Caller disputes a $42 charge on the May invoice."
    assert handoff.sentiment == "negative"
    assert handoff.conversation_twilio_id == CONV
    assert handoff.conversation == Conversation.objects.get(twilio_id=CONV)
    assert handoff.attributes == HANDOFF_DATA

    enqueue, task, attributes = enqueued_task(response)
    assert enqueue.get("workflowSid") == WORKFLOW
    assert (task.get("priority"), task.get("timeout")) == ("10", "600")
    assert attributes["reason"] == "billing dispute"
    assert attributes["reasonCode"] == "live-agent-handoff"
    assert attributes["summary"] == "Caller disputes a $42 charge on the May invoice."
    assert attributes["sentiment"] == "negative"
    assert attributes["conversationId"] == CONV
    assert attributes["call_sid"] == CALL
    assert attributes["name"] == "+15551230000"
    assert (attributes["department"], attributes["orderId"], attributes["vip"]) == (
        "billing",
        "A-1042",
        True,
    )
    assert attributes["handoffUrl"] == f"https://portal.example.com/handoffs/{handoff.pk}/"

    event = InboundEvent.objects.get()
    assert (event.source, event.event_type, event.status) == (
        "relay_action",
        "SESSION_ENDED",
        "processed",
    )
    assert event.result == {"handoff": handoff.pk, "created": True}


def test_tac_handoff_data_lifts_its_nested_attributes(twilio):
    response = deliver(twilio, action(handoff_data=TAC_HANDOFF_DATA))
    handoff = Handoff.objects.get()
    assert handoff.reason == "Customer disputes a charge"
    assert handoff.conversation.twilio_id == CONV
    assert handoff.attributes == {
        "reason": "Customer disputes a charge",
        "department": "support",
        "priority": "normal",
        "conversationId": CONV,
        "storeId": "mem_store_01ktllllllllllllllllllllll",
        "profileId": "mem_profile_01ktcccccccccccccccccccccc",
    }
    _, task, attributes = enqueued_task(response)
    assert task.get("priority") == "10"
    assert attributes["reason"] == "Customer disputes a charge"
    assert attributes["reasonCode"] == "live-agent-handoff"
    assert (attributes["department"], attributes["profileId"]) == (
        "support",
        "mem_profile_01ktcccccccccccccccccccccc",
    )
    assert attributes["conversationId"] == CONV
    assert attributes["handoffUrl"] == f"https://portal.example.com/handoffs/{handoff.pk}/"


def test_handoff_data_that_is_not_json_is_kept_as_the_reason(twilio):
    response = deliver(twilio, action(handoff_data="caller asked for a human"))
    handoff = Handoff.objects.get()
    assert handoff.reason == "caller asked for a human"
    assert handoff.conversation is None
    _, _, attributes = enqueued_task(response)
    assert attributes["reason"] == "caller asked for a human"
    assert attributes["call_sid"] == CALL


def test_handoff_without_conversation_id_links_the_conversation_known_by_the_call_sid(
    twilio, drain
):
    assert post_json(twilio, ORCHESTRATOR, fixture("communication_created")).status_code == 200
    drain()
    data = {k: v for k, v in HANDOFF_DATA.items() if k != "conversationId"}
    response = deliver(twilio, action(handoff_data=data))
    handoff = Handoff.objects.get()
    assert handoff.conversation == Conversation.objects.get(twilio_id=CONV)
    assert handoff.conversation_twilio_id == CONV
    assert enqueued_task(response)[2]["conversationId"] == CONV


def test_handoff_page_renders_for_an_admin_and_is_404_for_an_outsider(twilio, world, client_for):
    deliver(twilio, action())
    handoff = Handoff.objects.get()
    url = f"/handoffs/{handoff.pk}/"
    page = client_for(world.admin).get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "billing dispute" in html
    assert "Caller disputes a $42 charge on the May invoice." in html
    assert CALL in html and "A-1042" in html
    assert client_for(world.outsider).get(url).status_code == 404
    assert twilio.get(url).status_code == 302  # anonymous: to the login page


def test_handoff_page_follows_the_conversations_scope(twilio, world, client_for):
    south_call_sid = world.south_call.call_sids[0]
    deliver(twilio, action(handoff_data={"reason": "refund"}, CallSid=south_call_sid))
    handoff = Handoff.objects.get()
    assert handoff.conversation == world.south_call
    url = f"/handoffs/{handoff.pk}/"
    assert client_for(world.other_agent_user).get(url).status_code == 200
    assert client_for(world.supervisor).get(url).status_code == 404  # leads north only


# --- other session outcomes -----------------------------------------------------------------------


def test_completed_session_hangs_up(twilio):
    response = deliver(twilio, action("completed", handoff_data=None))
    root = twiml(response)
    assert [child.tag for child in root] == ["Hangup"]
    assert not Handoff.objects.exists()
    assert InboundEvent.objects.get().status == "processed"


def test_failed_session_still_reaches_a_human(twilio):
    response = deliver(
        twilio,
        action("failed", handoff_data=None, ErrorCode="64105", ErrorMessage="WebSocket closed"),
    )
    root = twiml(response)
    assert [child.tag for child in root] == ["Say", "Enqueue"]
    enqueue, _, attributes = enqueued_task(response)
    assert enqueue.get("workflowSid") == WORKFLOW
    assert attributes["reasonCode"] == "relay-failed"
    assert attributes["call_sid"] == CALL
    assert "64105" in attributes["reason"]
    assert not Handoff.objects.exists()


def test_failed_session_can_fall_back_to_a_dial(twilio, settings):
    settings.RELAY_FAILED_FALLBACK = "dial:+15550001111"
    response = deliver(twilio, action("failed", handoff_data=None))
    root = twiml(response)
    assert root.find("Enqueue") is None
    assert root.find("Dial").text == "+15550001111"


# --- delivered twice -> one effect --------------------------------------------------------------


def test_same_callback_twice_is_one_handoff_and_the_same_twiml(twilio):
    first = deliver(twilio, action())
    second = deliver(twilio, action())
    assert first.content == second.content
    assert Handoff.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_same_idempotency_token_twice_is_one_handoff_and_the_same_twiml(twilio):
    first = deliver(twilio, action(), idempotency_token="tok-relay-1")
    second = deliver(twilio, action(), idempotency_token="tok-relay-1")
    assert first.content == second.content
    assert Handoff.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_a_duplicate_that_fails_leaves_the_settled_event_as_it_was(twilio, monkeypatch):
    from apps.webhooks.handlers import relay

    deliver(twilio, action(), idempotency_token="tok-relay-2")
    settled = InboundEvent.objects.get()
    assert settled.status == "processed"

    def broken(params):
        raise RuntimeError("a bug on the second delivery")

    monkeypatch.setattr(relay, "respond", broken)
    again = deliver(twilio, action(), idempotency_token="tok-relay-2")

    assert again.status_code == 200  # the caller still reaches a human (the fallback)
    event = InboundEvent.objects.get()
    assert (event.status, event.error, event.result) == ("processed", "", settled.result)


def test_tac_handoff_twice_gives_the_same_twiml(twilio):
    first = deliver(twilio, action(handoff_data=TAC_HANDOFF_DATA))
    second = deliver(twilio, action(handoff_data=TAC_HANDOFF_DATA), idempotency_token="tok-retry")
    assert first.content == second.content
    assert Handoff.objects.count() == 1


def test_replaying_the_callback_through_the_inbox_changes_nothing(twilio, drain):
    deliver(twilio, action())
    before = list(Handoff.objects.values())
    from apps.webhooks.services import inbox_replay

    assert inbox_replay(status="processed") == 1
    drain()
    assert list(Handoff.objects.values()) == before
    assert InboundEvent.objects.get().status == "processed"


# --- out of order ---------------------------------------------------------------------------------


def test_handoff_before_its_conversation_keeps_its_link_when_the_conversation_arrives(
    twilio, drain
):
    deliver(twilio, action())
    placeholder = Handoff.objects.get().conversation
    assert placeholder.is_placeholder

    assert post_json(twilio, ORCHESTRATOR, fixture("conversation_created")).status_code == 200
    drain()
    conversation = Handoff.objects.get().conversation
    assert conversation.pk == placeholder.pk
    assert not conversation.is_placeholder
    assert conversation.call_sids == [CALL]
    assert Call.objects.get(call_sid=CALL).conversation == conversation


def test_handoff_before_the_calls_conversation_is_shown_with_it_once_it_arrives(
    twilio, drain, world, client_for
):
    data = {k: v for k, v in HANDOFF_DATA.items() if k != "conversationId"}
    deliver(twilio, action(handoff_data=data))
    handoff = Handoff.objects.get()
    assert handoff.conversation is None
    url = f"/handoffs/{handoff.pk}/"
    assert client_for(world.supervisor).get(url).status_code == 404

    for name in ("conversation_created", "agent_added", "communication_created"):
        assert post_json(twilio, ORCHESTRATOR, fixture(name)).status_code == 200
    drain()
    conversation = Conversation.objects.get(twilio_id=CONV)
    assert conversation.team == world.north
    page = client_for(world.supervisor).get(url)
    assert page.status_code == 200
    assert f"/conversations/{conversation.pk}/" in page.content.decode()
    assert client_for(world.outsider).get(url).status_code == 404


# --- bad input ------------------------------------------------------------------------------------


def test_bad_signature_is_refused_with_403_and_no_handoff(twilio):
    response = post_form(twilio, RELAY_ACTION, action(), signature="bm90IGl0")
    assert response.status_code == 403
    assert "signature" in response.json()["error"]
    event = InboundEvent.objects.get()
    assert (event.status, event.signature_valid) == ("rejected", False)
    assert not Handoff.objects.exists()
    assert not Conversation.objects.exists()


def test_params_signed_with_another_token_are_refused(twilio):
    response = post_form(twilio, RELAY_ACTION, action(), token="00000000000000000000000000000000")
    assert response.status_code == 403
    assert not Handoff.objects.exists()


def test_handoff_data_changed_after_signing_is_refused(twilio):
    from twilio.request_validator import RequestValidator

    from tests.fixtures.twilio import AUTH_TOKEN

    signed = action(handoff_data={"reason": "billing"})
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"https://portal.example.com{RELAY_ACTION}", signed
    )
    response = post_form(
        twilio, RELAY_ACTION, action(handoff_data={"reason": "refund"}), signature=signature
    )
    assert response.status_code == 403
    assert not Handoff.objects.exists()


def test_missing_call_sid_still_answers_a_fallback_to_a_human(twilio):
    params = {k: v for k, v in action().items() if k != "CallSid"}
    response = deliver(twilio, params)
    _, _, attributes = enqueued_task(response)
    assert attributes["reasonCode"] == "relay-failed"
    assert not Handoff.objects.exists()
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert "CallSid" in event.error


def test_missing_call_sid_is_a_warning_not_an_error_with_a_traceback(twilio, caplog):
    # A payload problem, not a crash: the fuzz test (test_fuzz.py) treats a logged traceback
    # as a crash of the handler.
    params = {k: v for k, v in action().items() if k != "CallSid"}
    with caplog.at_level(logging.WARNING, logger="apps.webhooks.views"):
        deliver(twilio, params)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert not caplog.records[0].exc_info


def test_handoff_data_with_an_escaped_nul_records_the_handoff_without_it(twilio):
    # Found by tests/webhooks/test_fuzz.py: PostgreSQL's jsonb refuses "\u0000", so the handoff
    # was not recorded and the caller got the fallback.
    deliver(twilio, action(handoff_data=json.dumps({**HANDOFF_DATA, "reason": "bill\x00ing"})))
    handoff = Handoff.objects.get()
    assert handoff.reason == "billing"


def test_a_session_status_too_long_for_its_column_answers_the_fallback_and_fails_the_event(twilio):
    # Found by tests/webhooks/test_fuzz.py: logged as a crash of the handler.
    response = deliver(twilio, action(session_status="ended" + "x" * 40))
    _, _, attributes = enqueued_task(response)
    assert attributes["reasonCode"] == "relay-failed"
    assert InboundEvent.objects.get().status == "failed"
