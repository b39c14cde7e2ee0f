"""A whole simulated AI -> human call: the Harper Valley caller over the real relay socket, the
signed ``<Connect action>`` callback with the agent's HandoffData, and the Orchestrator events
Twilio sends for the call (AI_AGENT, then HUMAN_AGENT), through the real inbox."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse

from apps.accounts.choices import Role
from apps.agent.choices import HandoffReason, SessionOutcome
from apps.agent.models import AgentSession, AgentTurn
from apps.agent.selectors import scoreboard_for_calls
from apps.agent.services.dialog import GOODBYE
from apps.agent.services.retrieval import KnowledgeIndex
from apps.conversations.choices import ParticipantType
from apps.conversations.models import Conversation
from apps.demo import relay_caller
from apps.demo.dataset import read_calls
from apps.insights import services as insights
from apps.insights.models import ConversationFact
from apps.qa.seam import HandoffContext, SeamLine, find_seam
from apps.relay.models import Handoff
from apps.webhooks import services as inbox
from tests.fixtures import builders
from tests.fixtures.twilio import ORCHESTRATOR, RELAY_ACTION, post_form, post_json

from .conftest import KNOWLEDGE, relay_socket

pytestmark = pytest.mark.django_db(transaction=True)


class CommunicatorSocket:
    """``relay_caller.RelaySocket`` over Channels' test communicator."""

    def __init__(self, communicator) -> None:
        self.communicator = communicator

    async def send(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float) -> str | None:
        # receive_output cancels the application when it times out: look first.
        if await self.communicator.receive_nothing(timeout=timeout):
            raise TimeoutError
        output = await self.communicator.receive_output()
        return output.get("text") if output["type"] == "websocket.send" else None


def _demo_call(*, ask_for_person: bool, interrupt: bool):
    for call in read_calls():
        plan = relay_caller.caller_plan(call)
        if plan and plan.ask_for_person == ask_for_person and plan.interrupt == interrupt:
            return call, plan
    raise AssertionError("no such call in the dataset")


def _play(call, plan) -> relay_caller.CallerResult:
    async def run() -> relay_caller.CallerResult:
        communicator = relay_socket()
        connected, _ = await communicator.connect()
        assert connected
        result = await relay_caller.play_caller(
            CommunicatorSocket(communicator), plan, caller=call.caller_address
        )
        await communicator.disconnect()
        return result

    return async_to_sync(run)()


def test_a_simulated_ai_to_human_call_is_handed_off_with_reason_summary_and_sentiment(
    knowledge, settings, client_for
):
    settings.VIRTUAL_AGENT_TOKEN_PACE_MS = 20  # the caller talks over a reply still streaming
    call, plan = _demo_call(ask_for_person=True, interrupt=True)
    result = _play(call, plan)
    assert result.handed_off and result.interrupted

    twilio = Client()
    during, after = relay_caller.orchestrator_events(result, call)
    for event in during:  # Twilio's events while the agent talks: the AI_AGENT and its turns
        assert post_json(twilio, ORCHESTRATOR, event.payload).status_code in (200, 202, 204)
    inbox.inbox_drain(max_seconds=30)

    answer = post_form(
        twilio, RELAY_ACTION, relay_caller.action_params(result, caller=call.caller_address)
    )
    assert answer.status_code == 200
    task = ET.fromstring(answer.content).find("./Enqueue/Task")
    assert task is not None
    attributes = json.loads(task.text)
    handoff = Handoff.objects.get()
    assert attributes["reason"] == handoff.reason == "The caller asked for a person."
    assert attributes["summary"] == handoff.summary and handoff.summary
    assert attributes["sentiment"] == handoff.sentiment and handoff.sentiment
    assert attributes["call_sid"] == result.call_sid

    for event in after:  # then the HUMAN_AGENT and the rest of the call
        assert post_json(twilio, ORCHESTRATOR, event.payload).status_code in (200, 202, 204)
    inbox.inbox_drain(max_seconds=30)

    conversation = Conversation.objects.get(call_sids__contains=[result.call_sid])
    kinds = set(conversation.participants.values_list("type", flat=True))
    assert {ParticipantType.AI_AGENT, ParticipantType.HUMAN_AGENT} <= kinds
    handoff.refresh_from_db()
    assert handoff.conversation == conversation
    session = AgentSession.objects.get(call_sid=result.call_sid)
    assert session.outcome == SessionOutcome.HANDED_OFF
    turns = list(AgentTurn.objects.filter(session=session).order_by("index"))
    assert turns[0].interrupted and turns[0].recovered is True
    assert all(turn.first_token_ms is not None for turn in turns)

    # The virtual agent's scoreboard of the conversation, on its page.
    board = scoreboard_for_calls(call_sids=conversation.call_sids)
    assert board.sessions == 1 and board.turns == len(turns) and board.handed_off == 1
    assert board.interruptions >= 1 and board.recovered >= 1
    assert board.reasons == {"asked-for-person": 1}
    assert board.first_token_p95_ms is not None and board.first_helpful_p50_ms is not None
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    page = client_for(admin).get(reverse("conversation-detail", args=[conversation.pk]))
    assert page.status_code == 200
    assert b'data-testid="agent-scoreboard"' in page.content
    assert b'data-testid="handoff-context"' in page.content

    # QA's seam checks see the AI -> human seam and the summary the agent passed on.
    lines = conversation.communications.select_related("author").order_by("occurred_at", "pk")
    seam = find_seam(
        [
            SeamLine(
                pk=line.pk,
                author_type=line.author.type if line.author else None,
                at=line.occurred_at,
                duration_ms=line.duration_ms,
                text=line.text,
            )
            for line in lines
        ],
        HandoffContext(reason=handoff.reason, summary=handoff.summary, at=handoff.created_at),
    )
    assert seam is not None and seam.after_pk is not None
    checks = {check.key: check.status for check in seam.checks}
    assert checks["summary_passed"] == "pass" and len(checks) == 3

    # Insights count it as an AI -> human call handed off with the agent's reason.
    insights.facts_refresh([conversation.pk])
    fact = ConversationFact.objects.get(conversation=conversation)
    assert fact.mix == "HANDOFF" and fact.handoff
    assert fact.handoff_reason == HandoffReason.ASKED_FOR_PERSON.label  # by code, not text
    assert fact.contained is not True


def test_a_simulated_contained_call_hangs_up(knowledge):
    index = KnowledgeIndex.build(
        [
            SimpleNamespace(id=n, tags=tuple(a["tags"]), title=a["title"], body=a["body"])
            for n, a in enumerate(json.loads(KNOWLEDGE.read_text())["articles"])
        ]
    )
    call, plan = next(
        (call, plan)
        for call in read_calls()
        if (plan := relay_caller.caller_plan(call))
        and not plan.ask_for_person
        and not plan.interrupt
        and index.best(plan.request) is not None
    )
    result = _play(call, plan)
    assert not result.handed_off
    assert result.lines[-1] == ("ai", GOODBYE)
    answer = post_form(
        Client(), RELAY_ACTION, relay_caller.action_params(result, caller=call.caller_address)
    )
    assert answer.status_code == 200 and b"<Hangup" in answer.content
    assert not Handoff.objects.exists()
    session = AgentSession.objects.get(call_sid=result.call_sid)
    assert session.outcome == SessionOutcome.CONTAINED
    (answered, _thanks) = AgentTurn.objects.filter(session=session).order_by("index")
    assert answered.article_id is not None and answered.first_helpful_ms is not None


def test_the_incoming_call_webhook_answers_signed_requests_with_connect_conversation_relay(db):
    twilio = Client()
    params = {"CallSid": "CA" + "2" * 32, "From": "+15551230000", "To": "+18005550100"}
    answer = post_form(twilio, "/agent/incoming-call", params)
    assert answer.status_code == 200
    connect = ET.fromstring(answer.content).find("./Connect")
    assert connect is not None
    assert connect.get("action") == "https://portal.example.com/webhooks/twilio/relay-action"
    relay = connect.find("./ConversationRelay")
    assert relay is not None
    assert relay.get("url") == "wss://portal.example.com/ws/agent/relay/"
    assert relay.get("dtmfDetection") == "true" and relay.get("interruptible") == "any"

    assert post_form(twilio, "/agent/incoming-call", params, token="f" * 32).status_code == 403
    unsigned = twilio.post("/agent/incoming-call", params)
    assert unsigned.status_code == 403
