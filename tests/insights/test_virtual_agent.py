"""The reference virtual agent's scoreboard in insights: its sessions and turns fill the
conversation facts, roll up, and are scored on the AI agent page and in the API, per persona."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.agent.choices import HandoffReason, SessionOutcome
from apps.agent.models import AgentSession
from apps.agent.services import sessions
from apps.agent.services.dialog import Handoff
from apps.conversations import selectors as conversations_selectors
from apps.conversations import services as conversations
from apps.insights import selectors
from apps.insights import services as insights
from apps.insights.models import ConversationFact, Rollup, StaleConversation
from apps.insights.selectors.filters import filters_parse
from tests.fixtures import insights as build
from tests.insights.test_facts import AI_ONLY, HANDOFF

pytestmark = pytest.mark.django_db

DAY = build.START.date().isoformat()
PERIOD = {"from": DAY, "to": DAY}


def _turn(index: int, first_token: float | None, **fields) -> sessions.TurnRecord:
    return sessions.TurnRecord(
        index=index,
        prompt=fields.pop("prompt", f"turn {index}"),
        reply=fields.pop("reply", "an answer"),
        prompted_at=timezone.now(),
        first_token_ms=first_token,
        **fields,
    )


def agent_call(
    lines,
    *,
    turns: list[sessions.TurnRecord],
    handoff: Handoff | None = None,
    human: str | None = None,
    close_at: float | None = 40,
    start: datetime = build.START,
) -> build.Call:
    """A call the reference agent answered: the Orchestrator's side through the conversation
    services, the agent's session and turns through its own services (as the socket does)."""
    call = build.new_call(lines, human=human, close_at=close_at, start=start)
    call_sid = f"CA{call.pk:032d}"
    conversation = conversations_selectors.conversation_for_call(call_sid=call_sid)
    assert conversation is None
    conversations.call_link(
        call_sid=call_sid, conversation=conversations.conversation_ensure(twilio_id=call.twilio_id)
    )
    session = sessions.session_start(session_id=f"VX{call.pk:032d}", call_sid=call_sid)
    for turn in turns:
        sessions.turn_record(session_id=session.pk, turn=turn)
    sessions.session_end(session_id=session.pk, handoff=handoff, sentiment="neutral", summary="")
    return call


def contained_call() -> build.Call:
    """Asked, interrupted, asked again (answered from an article), thanked: a success."""
    return agent_call(
        AI_ONLY,
        turns=[
            _turn(0, 120.0, interrupted=True, heard="we are", first_helpful_ms=120.0,
                  article_title="Branch hours"),
            _turn(1, 80.0, first_helpful_ms=80.0, article_id=None, article_title="Branch hours"),
            _turn(2, 40.0, closing=True),
        ],
    )  # fmt: skip


def handed_off_call(*, human: str | None = "Alice", start: datetime = build.START) -> build.Call:
    return agent_call(
        HANDOFF,
        human=human,
        start=start,
        turns=[_turn(0, 200.0, handoff=True)],
        handoff=Handoff("asked-for-person", "The caller asked for a person.", "Sum.", "neutral"),
    )


def abandoned_call() -> build.Call:
    return agent_call(AI_ONLY[:1], turns=[])


def fact(call: build.Call) -> ConversationFact:
    return ConversationFact.objects.get(conversation_id=call.pk)


# Facts -----------------------------------------------------------------------------------------


def test_the_facts_of_a_contained_call_carry_the_agents_scoreboard(db):
    call = contained_call()
    build.refresh()
    f = fact(call)
    assert f.va_outcome == SessionOutcome.CONTAINED and f.contained is True
    assert f.va_turns == 3
    assert f.va_first_token_ms == [120.0, 80.0, 40.0]
    assert f.va_first_helpful_ms == [120.0, 80.0]
    assert (f.va_interruptions, f.va_recovered) == (1, 1)
    assert f.va_task_success is True
    # The transcript's time to the AI's first word (AI_ONLY: 5 s to 5.8 s), for every AI agent
    # alike; the agent's own measure is kept apart, above, not mixed into that mean.
    assert f.ai_first_word_seconds == pytest.approx(0.8)


def test_a_contained_call_without_the_callers_goodbye_is_not_a_task_success(db):
    call = agent_call(AI_ONLY, turns=[_turn(0, 50.0, article_title="Branch hours")])
    build.refresh()
    assert fact(call).contained is True and fact(call).va_task_success is False


def test_a_session_handed_off_is_a_handoff_with_its_reason_code_without_a_relay_callback(db):
    call = handed_off_call()
    build.refresh()
    f = fact(call)
    assert f.handoff and f.contained is False and f.va_task_success is False
    assert f.va_outcome == SessionOutcome.HANDED_OFF
    assert f.va_handoff_code == "asked-for-person"
    assert f.handoff_reason == HandoffReason.ASKED_FOR_PERSON.label


def test_the_agents_handoffs_count_by_reason_code_whatever_their_text_quotes(db):
    """ "No answer to: <the caller's words>" is one reason, not one per call; another agent's
    reason (Twilio's side, no session of ours) counts by its text."""
    for asked in ("mortgage rates", "a car loan"):
        reason = f"The knowledge base has no answer to: {asked}"
        call = agent_call(
            HANDOFF,
            human="Alice",
            turns=[_turn(0, 200.0, handoff=True)],
            handoff=Handoff("not-in-knowledge", reason, "Sum.", "neutral"),
        )
        build.handoff(call, reason=reason)  # the <Connect action> callback's HandoffData
    other = build.new_call(HANDOFF, human="Bob")
    build.handoff(other, reason="billing dispute")
    build.refresh()
    reasons = ConversationFact.objects.values_list("handoff_reason", flat=True)
    assert sorted(reasons) == sorted(
        [HandoffReason.NOT_IN_KNOWLEDGE.label] * 2 + ["billing dispute"]
    )


def test_a_caller_who_hangs_up_before_any_turn_is_abandoned_and_out_of_containment(db):
    call = abandoned_call()
    assert AgentSession.objects.get().outcome == SessionOutcome.ABANDONED
    build.refresh()
    f = fact(call)
    assert f.va_outcome == SessionOutcome.ABANDONED
    assert f.contained is None and f.va_task_success is None and not f.handoff
    (bucket,) = Rollup.objects.all()
    assert (bucket.va_conversations, bucket.va_abandoned) == (1, 1)
    assert (bucket.contained, bucket.ai_closed, bucket.va_closed) == (0, 0, 0)


def test_the_agents_writes_mark_the_conversation_stale_and_a_second_refresh_changes_nothing(db):
    call = build.new_call(AI_ONLY, close_at=20)
    call_sid = f"CA{call.pk:032d}"
    conversations.call_link(
        call_sid=call_sid, conversation=conversations.conversation_ensure(twilio_id=call.twilio_id)
    )
    build.refresh()
    assert fact(call).va_outcome == ""
    session = sessions.session_start(session_id="VX1", call_sid=call_sid)
    sessions.turn_record(session_id=session.pk, turn=_turn(0, 30.0))
    stale = StaleConversation.objects.filter(conversation_id=call.pk)
    assert not stale.exists()  # the call goes on: its end marks the facts, once
    sessions.session_end(
        session_id=session.pk,
        handoff=Handoff("pressed-zero", "The caller pressed 0.", "", ""),
        sentiment="",
        summary="",
    )
    assert stale.count() == 1
    build.refresh()
    # The handoff's own turn is stored after the session ended: it marks them again.
    sessions.turn_record(session_id=session.pk, turn=_turn(1, 10.0, handoff=True))
    assert stale.count() == 1
    build.refresh()
    first = fact(call)
    assert first.va_outcome == SessionOutcome.HANDED_OFF
    assert first.va_first_token_ms == [30.0, 10.0]
    insights.facts_mark_stale([call.pk])
    report = build.refresh()
    assert report.conversations == 1 and report.buckets == 0  # recomputed, nothing changed
    assert fact(call).computed_at == first.computed_at


# The scoreboard --------------------------------------------------------------------------------


@pytest.fixture
def scoreboard_day(world):
    calls = {
        "contained": contained_call(),
        "handed_off": handed_off_call(),
        "abandoned": abandoned_call(),
    }
    build.refresh()
    return calls


def _board(user):
    filters = filters_parse(PERIOD)
    keys = selectors.VA_KPI_KEYS
    kpis = [selectors.KPI_BY_KEY[key] for key in keys]
    result = selectors.overview(user=user, filters=filters, kpis=kpis)
    return (
        {v.kpi.key: v for v in result.values},
        selectors.va_latency(user=user, filters=filters),
        selectors.va_reasons(user=user, filters=filters),
    )


def test_the_scoreboard_rolls_up_containment_success_recovery_and_abandoned(world, scoreboard_day):
    figures, latency, reasons = _board(world.admin)
    containment = figures["va_containment"].current
    assert (figures["va_containment"].hits, containment.n) == (1, 2)  # abandoned left out
    assert (figures["va_task_success"].hits, figures["va_task_success"].current.n) == (1, 2)
    assert (figures["va_recovery"].hits, figures["va_recovery"].current.n) == (1, 1)
    assert figures["va_abandoned"].current.value == 1
    # Nearest rank over the four timed turns (120, 80, 40 and 200 ms).
    assert (latency.first_token.n, latency.first_token.p50_ms) == (4, 80.0)
    assert latency.first_token.p95_ms == 200.0 and latency.first_token.few
    assert (latency.first_helpful.n, latency.first_helpful.p50_ms) == (2, 80.0)
    assert [(r.code, r.conversations, r.share) for r in reasons] == [("asked-for-person", 1, 1.0)]


def test_each_persona_sees_the_scoreboard_of_their_scope(world, scoreboard_day):
    # The AI kept two calls alone (no team, no agent): only all-seeing roles count them; the
    # one handed to Alice counts for her team and for her.
    for user in (world.admin, world.qa_analyst):
        assert _board(user)[0]["va_containment"].current.n == 2
    for user in (world.supervisor, world.coach, world.agent_user):
        figures, latency, reasons = _board(user)
        assert figures["va_containment"].current.n == 1
        assert figures["va_containment"].hits == 0 and latency.first_token.n == 1
        assert [r.code for r in reasons] == ["asked-for-person"]
    figures, latency, reasons = _board(world.other_agent_user)
    assert figures["va_containment"].current.n == 0 and latency.first_token.n == 0
    assert reasons == []


def test_the_ai_page_shows_the_scoreboard_or_an_empty_state(world, scoreboard_day, client):
    client.force_login(world.admin)
    page = client.get(reverse("insights-ai"), PERIOD).content.decode()
    assert 'data-testid="va-scoreboard"' in page and 'data-testid="va-empty"' not in page
    for key in selectors.VA_KPI_KEYS:
        assert f'data-testid="kpi-{key}"' in page
    assert "80.0 ms" in page and "200.0 ms" in page
    assert "The caller asked for a person" in page
    drill = client.get(
        reverse("insights-conversations"), {**PERIOD, "va_reason": "asked-for-person"}
    )
    assert "virtual agent handoff reason asked-for-person" in drill.content.decode()
    empty = client.get(reverse("insights-ai"), {"from": "2020-01-01", "to": "2020-01-31"})
    assert 'data-testid="va-empty"' in empty.content.decode()
    other = Client()
    other.force_login(world.other_agent_user)
    assert 'data-testid="va-empty"' in other.get(reverse("insights-ai"), PERIOD).content.decode()


def test_the_scoreboards_numbers_drill_down_to_their_conversations(world, scoreboard_day):
    def drilled(**predicates) -> set[int]:
        facts = selectors.drilldown_facts(
            user=world.admin, filters=filters_parse(PERIOD), predicates=predicates
        )
        return set(facts.values_list("conversation_id", flat=True))

    calls = scoreboard_day
    assert drilled(has="va") == {call.pk for call in calls.values()}
    assert drilled(va_outcome="abandoned") == {calls["abandoned"].pk}
    assert drilled(va_reason="asked-for-person") == {calls["handed_off"].pk}
    assert drilled(va_success="yes") == {calls["contained"].pk}
    assert drilled(has="va_task") == {calls["contained"].pk, calls["handed_off"].pk}
    assert drilled(has="va_interruptions") == {calls["contained"].pk}


def test_the_api_gives_the_scoreboard_and_refuses_the_outsider(world, scoreboard_day, client):
    client.force_login(world.admin)
    body = client.get(reverse("api-insights-virtual-agent"), PERIOD).json()
    assert body["calls"] == 3
    assert body["figures"]["va_containment"]["current"]["n"] == 2
    assert body["figures"]["va_containment"]["hits"] == 1
    assert body["figures"]["va_task_success"]["current"]["value"] == 0.5
    assert body["first_token"] == {"n": 4, "p50_ms": 80.0, "p95_ms": 200.0, "few": True}
    assert body["handoff_reasons"][0]["code"] == "asked-for-person"
    outsider = Client()
    outsider.force_login(world.outsider)
    assert outsider.get(reverse("api-insights-virtual-agent"), PERIOD).status_code == 403
