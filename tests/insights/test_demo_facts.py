"""Facts of the demo calls against values worked out from the recordings themselves: the
Harper Valley calls (human agents) and the virtual-assistant calls made up around them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.demo.services import conversation_twilio_id
from apps.demo.virtual import PREFIX, demo_virtual_load, plan
from apps.insights.models import ConversationFact
from apps.intelligence.nlp.text import is_speech
from tests.fixtures import insights as build
from tests.fixtures.demo import CALLS, SAMPLE

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(demo_calls):
    shift = demo_calls_shift()
    demo_virtual_load(calls=[CALLS[sid] for sid in SAMPLE], shift=shift)
    build.refresh()
    return {
        f.conversation.twilio_id: f for f in ConversationFact.objects.select_related("conversation")
    }


def demo_calls_shift() -> timedelta:
    from apps.conversations.selectors import conversations_unscoped

    sid = SAMPLE[0]
    started = conversations_unscoped().get(twilio_id=conversation_twilio_id(sid)).started_at
    return timedelta(days=round((started - CALLS[sid].started_at) / timedelta(days=1)))


def test_a_recorded_call_by_hand(demo):
    # 0002f70f7386445b: 1591056783191 to 1591056834394 ms; Elizabeth greets at 1,669 ms.
    fact = demo[conversation_twilio_id("0002f70f7386445b")]
    assert fact.handle_seconds == pytest.approx(51.203)
    assert fact.first_response_seconds == pytest.approx(1.669)
    assert (fact.mix, fact.contained, fact.handoff) == ("HUMAN", None, False)


@pytest.mark.parametrize("sid", SAMPLE)
def test_every_recorded_call_follows_the_definitions(demo, sid):
    call = CALLS[sid]
    fact = demo[conversation_twilio_id(sid)]
    spoken = [s for s in call.segments if s.text and is_speech(s.text)]
    agent_first = next(s for s in spoken if s.role == "agent")
    callers_before = [s for s in spoken if s.role == "caller" and s.start_ms < agent_first.start_ms]
    waited_from = (
        (callers_before[0].start_ms + callers_before[0].duration_ms) if callers_before else 0
    )
    assert fact.handle_seconds == pytest.approx((call.end_time_ms - call.start_time_ms) / 1000)
    assert fact.first_response_seconds == pytest.approx(
        max(0, agent_first.start_ms - waited_from) / 1000
    )
    assert fact.communications == len([s for s in call.segments if s.text and is_speech(s.text)])


def test_the_sentiment_change_is_the_operators(demo):
    from apps.intelligence import selectors as intelligence

    for sid in SAMPLE:
        fact = demo[conversation_twilio_id(sid)]
        latest = (
            intelligence.results_for_conversation(conversation=fact.conversation)
            .filter(definition__operator__kind="SENTIMENT", status="ok")
            .last()
        )
        assert fact.sentiment_delta == latest.result["delta"]["delta"]
        assert fact.sentiment_start == latest.result["delta"]["first"]


@pytest.mark.parametrize("sid", [sid for sid in SAMPLE if plan(CALLS[sid])])
def test_the_virtual_assistant_calls_by_their_script(demo, sid):
    virtual = plan(CALLS[sid])
    fact = demo[PREFIX + sid]
    lines = virtual.lines
    customer = lines[1]
    assert fact.ai_first_word_seconds == pytest.approx(lines[2][1] - (customer[1] + customer[3]))
    assert fact.handle_seconds == pytest.approx(virtual.close_at)
    if virtual.kind == "contained":
        assert (fact.mix, fact.contained, fact.handoff) == ("AI", True, False)
    elif virtual.kind == "asked_for_person":
        assert (fact.mix, fact.contained, fact.handoff) == ("AI", False, True)
        assert fact.handoff_reason == "The caller asked for a person."
    else:
        assert (fact.mix, fact.contained, fact.handoff) == ("HANDOFF", False, True)
        human = next(line for line in lines if line[0] == "human")
        last_ai = max(line[1] + line[3] for line in lines if line[0] == "ai" and line[1] < human[1])
        assert fact.first_response_seconds == pytest.approx(human[1] - last_ai)
        assert fact.agent.display_name == CALLS[sid].agent_name
