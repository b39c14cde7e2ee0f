"""The handoff of an AI -> human call is recorded the same whichever arrives first: Twilio's
``<Connect action>`` callback or the Orchestrator events of the AI and human participants.
Everything goes through the real endpoints (signed), the inbox and the insights worker."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.choices import Role
from apps.agent.choices import HandoffReason, SessionOutcome
from apps.conversations.models import Conversation
from apps.demo import relay_caller
from apps.insights.models import ConversationFact
from apps.relay.models import Handoff
from apps.webhooks import services as inbox
from tests.fixtures import builders
from tests.fixtures import insights as build
from tests.fixtures.twilio import ORCHESTRATOR, RELAY_ACTION, post_form, post_json

from .test_simulated_call import _demo_call, _play

pytestmark = pytest.mark.django_db(transaction=True)


def _post_events(twilio: Client, events) -> None:
    for event in events:
        assert post_json(twilio, ORCHESTRATOR, event.payload).status_code in (200, 202, 204)
    inbox.inbox_drain(max_seconds=30)


def _callback(twilio: Client, result, call) -> Handoff:
    answer = post_form(
        twilio, RELAY_ACTION, relay_caller.action_params(result, caller=call.caller_address)
    )
    assert answer.status_code == 200
    task = ET.fromstring(answer.content).find("./Enqueue/Task")
    assert task is not None
    assert json.loads(task.text)["reason"] == "The caller asked for a person."
    return Handoff.objects.get()


@pytest.mark.parametrize("callback", ["before the events", "after the events"])
def test_the_handoff_is_recorded_whether_the_callback_or_the_events_come_first(
    knowledge, client_for, callback
):
    call, plan = _demo_call(ask_for_person=True, interrupt=False)
    result = _play(call, plan)
    assert result.handed_off
    twilio = Client()
    during, after = relay_caller.orchestrator_events(result, call)
    if callback == "before the events":
        handoff = _callback(twilio, result, call)
        assert handoff.conversation is None  # nothing known of the call yet
        _post_events(twilio, [*during, *after])
    else:
        _post_events(twilio, [*during, *after])
        handoff = _callback(twilio, result, call)
    assert Handoff.objects.count() == 1

    conversation = Conversation.objects.get(call_sids__contains=[result.call_sid])
    build.refresh()  # the insights worker, woken by the writes
    fact = ConversationFact.objects.get(conversation=conversation)
    assert fact.mix == "HANDOFF" and fact.handoff and fact.contained is False
    assert fact.handoff_reason == HandoffReason.ASKED_FOR_PERSON.label  # by code, not text
    assert fact.va_outcome == SessionOutcome.HANDED_OFF
    assert fact.va_handoff_code == "asked-for-person" and fact.va_task_success is False

    # The conversation page shows the handoff's context in both orders.
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    page = client_for(admin).get(reverse("conversation-detail", args=[conversation.pk]))
    assert b'data-testid="handoff-context"' in page.content
    assert b'data-testid="agent-scoreboard"' in page.content
