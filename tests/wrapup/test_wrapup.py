"""Wrap-up: when the call ends the agent on it gets the AI's summary, topic and outcome
prefilled, edits and saves them; the AI's original is kept beside the agent's version with how
much the agent changed, insights counts it, and the API gives it to a CRM."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.conversations.choices import ConversationStatus
from apps.conversations.models import Conversation
from apps.insights.models import ConversationFact
from apps.live.models import LiveEvent
from apps.wrapup import services
from apps.wrapup.changes import word_distance, words, wrapup_changes
from apps.wrapup.models import Wrapup
from tests.fixtures import builders
from tests.fixtures import insights as build
from tests.intelligence.test_page import twilio_result

pytestmark = pytest.mark.django_db

AI_SUMMARY = "Customer lost a debit card. Agent blocked it and ordered a new card."


@pytest.fixture
def ended(world):
    """North's call ended a minute ago; the AI summarised it and labelled topic and outcome."""
    call = world.north_call
    Conversation.objects.filter(pk=call.pk).update(ended_at=timezone.now() - timedelta(minutes=1))
    call.refresh_from_db()
    summary = twilio_result(call, name="Summary", result={"text": AI_SUMMARY})
    twilio_result(call, name="Topic", result={"label": "replace card"})
    twilio_result(call, name="Outcome", result={"label": "Resolved"})
    return call, summary


def save(world, call, **fields):
    values = {"summary": AI_SUMMARY, "topic": "replace card", "outcome": "resolved"} | fields
    return services.wrapup_save(user=world.agent_user, conversation=call, **values)


# How much changed ---------------------------------------------------------------------------


def test_the_summary_distance_counts_words_changed_whatever_the_case_and_punctuation():
    assert word_distance(words("Card lost. New one sent!"), words("card LOST new one sent")) == 0
    assert word_distance(words("a b c d"), words("a x c d")) == 1  # one replaced
    assert word_distance(words("a b c d"), words("a b d")) == 1  # one deleted
    assert word_distance(words(""), words("three new words")) == 3
    assert word_distance(words("kitten sat on the mat"), words("sitting sat on a mat")) == 2


def test_changes_name_the_fields_the_agent_changed_and_the_share_of_the_summary():
    same = wrapup_changes(ai=("One two three four", "card", "resolved"),
                          agent=("one two three four.", "Card", "resolved"))  # fmt: skip
    assert same.fields == [] and same.summary_change == 0

    edited = wrapup_changes(ai=("one two three four", "card", "resolved"),
                            agent=("one two five four", "card", "follow-up"))  # fmt: skip
    assert edited.fields == ["summary", "outcome"]
    assert edited.summary_distance == 1 and edited.summary_change == 0.25

    rewritten = wrapup_changes(ai=("", "", ""), agent=("all new", "x", "resolved"))
    assert rewritten.summary_change == 1.0


# Saving -------------------------------------------------------------------------------------


def test_the_agent_saves_an_edited_wrap_up_and_the_ais_original_is_kept_beside_it(world, ended):
    call, summary = ended

    wrapup = save(world, call, summary=AI_SUMMARY + " Follow up on Friday.", outcome="follow-up",
                  ai_summary_result_id=summary.pk)  # fmt: skip

    assert (wrapup.ai_summary, wrapup.ai_topic, wrapup.ai_outcome) == (
        AI_SUMMARY, "replace card", "resolved")  # fmt: skip
    assert wrapup.summary.endswith("Follow up on Friday.")
    assert wrapup.fields_changed == ["summary", "outcome"]
    assert wrapup.summary_distance == 4  # four words added
    assert wrapup.summary_change == pytest.approx(4 / 17, abs=1e-4)
    assert wrapup.agent == world.agent and wrapup.saved_by == world.agent_user
    assert not wrapup.late and wrapup.revision == 1


def test_the_ai_original_is_the_summary_the_agent_started_from_not_a_newer_one(world, ended):
    call, first = ended
    twilio_result(call, name="Summary", result={"text": "A later, longer summary."}, minutes=5)

    wrapup = save(world, call, ai_summary_result_id=first.pk)

    assert wrapup.ai_summary == AI_SUMMARY and wrapup.fields_changed == []


def test_a_save_from_a_stale_revision_is_refused_and_a_current_one_is_counted(world, ended):
    call, _ = ended
    save(world, call)

    with pytest.raises(Conflict):
        save(world, call, summary="Overwritten unseen", revision=0)
    again = save(world, call, summary="Rewritten entirely by the agent", revision=1)

    assert again.revision == 2 and again.ai_summary == AI_SUMMARY
    assert Wrapup.objects.get(pk=again.pk).summary == "Rewritten entirely by the agent"


def test_only_the_agent_on_the_call_saves_it_and_only_once_the_call_ended(world, ended):
    call, _ = ended
    with pytest.raises(PermissionDenied):
        services.wrapup_save(user=world.supervisor, conversation=call, summary="x",
                             topic="", outcome="resolved")  # fmt: skip
    live = builders.make_conversation(agent=world.agent, status=ConversationStatus.ACTIVE)
    with pytest.raises(Conflict, match="still going"):
        save(world, live)


def test_an_empty_summary_or_an_unknown_outcome_is_refused_with_what_to_fix(world, ended):
    call, _ = ended
    with pytest.raises(ValidationFailed) as caught:
        save(world, call, summary="   ", outcome="maybe")
    assert set(caught.value.errors) == {"summary", "outcome"}
    assert not Wrapup.objects.exists()


def test_a_save_after_the_deadline_is_kept_and_marked_late(world, ended, settings):
    call, _ = ended
    settings.WRAPUP_SECONDS = 30  # the call ended a minute ago

    assert save(world, call).late


def test_saving_tells_the_pages_and_insights_counts_the_agents_outcome_and_edit(world, ended):
    call, _ = ended
    save(world, call, summary="Customer lost a card; blocked it.", outcome="follow-up",
         topic="lost card")  # fmt: skip
    build.refresh()

    fact = ConversationFact.objects.get(conversation_id=call.pk)
    assert (fact.outcome, fact.outcome_source, fact.topic) == ("follow-up", "agent", "lost card")
    assert fact.task_success is False  # follow-up is not a success outcome
    assert 0 < fact.wrapup_edit < 1
    event = LiveEvent.objects.filter(conversation_id=call.pk, event="wrapup").get()
    assert event.payload["fields_changed"] == ["summary", "topic", "outcome"]


# Pages and API ------------------------------------------------------------------------------


def test_the_assist_view_turns_into_a_prefilled_wrap_up_at_the_end(world, ended, client_for):
    call, summary = ended
    page = client_for(world.agent_user).get(f"/assist/{call.call_sids[0]}/").content.decode()

    assert 'data-testid="wrapup-form"' in page
    assert AI_SUMMARY in page
    assert 'value="replace card"' in page
    assert '<option value="resolved" selected>' in page
    assert f'name="ai_result" value="{summary.pk}"' in page


def test_while_the_call_goes_on_the_panel_is_an_empty_slot(world, client_for):
    live = builders.make_conversation(agent=world.agent, status=ConversationStatus.ACTIVE)
    page = client_for(world.agent_user).get(f"/assist/{live.call_sids[0]}/").content.decode()
    assert "data-wrapup-panel" in page and 'data-testid="wrapup"' not in page


def test_the_form_posts_without_javascript_and_returns_to_the_page(world, ended, client_for):
    call, _ = ended
    back = f"/assist/{call.call_sids[0]}/"
    response = client_for(world.agent_user).post(
        f"/conversations/{call.pk}/wrapup/",
        {"summary": "Blocked the card.", "topic": "card", "outcome": "resolved", "revision": "0",
         "next": back},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == back
    assert Wrapup.objects.get().summary == "Blocked the card."

    evil = client_for(world.agent_user).post(
        f"/conversations/{call.pk}/wrapup/",
        {"summary": "x", "outcome": "resolved", "revision": "0", "next": "https://evil.test/"},
    )
    assert evil["Location"] == f"/conversations/{call.pk}/"  # and the stale save was refused


def test_the_conversation_page_shows_the_ais_and_the_agents_version(world, ended, client_for):
    call, _ = ended
    save(world, call, summary="Agent's own words about the card.")

    page = client_for(world.supervisor).get(f"/conversations/{call.pk}/").content.decode()

    assert 'data-testid="wrapup-agent-version"' in page and "Agent&#x27;s own words" in page
    assert 'data-testid="wrapup-ai-version"' in page and AI_SUMMARY in page
    assert 'data-testid="wrapup-form"' not in page  # the supervisor reads, the agent edits


def test_the_api_gives_a_crm_the_saved_wrap_up_by_call_sid(world, ended, client_for):
    call, _ = ended
    save(world, call, outcome="escalated")

    rows = client_for(world.supervisor).get(f"/api/wrapups/?call_sid={call.call_sids[0]}").json()
    assert [row["outcome"] for row in rows["results"]] == ["escalated"]
    assert rows["results"][0]["ai"]["summary"] == AI_SUMMARY
    hidden = client_for(world.other_agent_user).get("/api/wrapups/").json()
    assert hidden["results"] == []


def test_the_api_saves_like_the_form_with_clear_errors(world, ended, client_for):
    call, summary = ended
    api = client_for(world.agent_user)
    url = f"/api/conversations/{call.pk}/wrapup/"

    state = api.get(url).json()
    assert state["ended"] and state["can_edit"] and state["ai"]["summary"] == AI_SUMMARY
    bad = api.put(url, {"summary": "", "outcome": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()["extra"]["errors"]) == {"summary", "outcome"}
    done = {"summary": "Done.", "outcome": "resolved", "revision": 0,
            "ai_summary_result": summary.pk}  # fmt: skip
    ok = api.put(url, done, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["revision"] == 1
    stale = api.put(url, {"summary": "Again", "outcome": "resolved", "revision": 0},
                    content_type="application/json")  # fmt: skip
    assert stale.status_code == 409
    other = client_for(world.supervisor).put(url, {"summary": "x", "outcome": "resolved"},
                                             content_type="application/json")  # fmt: skip
    assert other.status_code == 403


def test_the_end_of_the_call_and_the_close_of_the_conversation_are_live_events(world):
    from apps.conversations import services as conversations

    live = builders.make_conversation(agent=world.agent, status=ConversationStatus.ACTIVE)
    sid = live.call_sids[0]
    conversations.call_link(call_sid=sid, conversation=live)
    conversations.call_status_apply(call_sid=sid, status="in-progress", at=timezone.now())
    assert not LiveEvent.objects.filter(conversation_id=live.pk, event="status").exists()

    conversations.call_status_apply(call_sid=sid, status="completed", at=timezone.now())
    ended = LiveEvent.objects.get(conversation_id=live.pk, event="status")
    assert ended.payload["ended"] and ended.payload["status"] == "ACTIVE"

    conversations.conversation_apply(
        twilio_id=live.twilio_id, status="CLOSED", version=timezone.now()
    )
    closed = LiveEvent.objects.filter(conversation_id=live.pk, event="status").order_by("seq")
    assert [e.payload["status"] for e in closed] == ["ACTIVE", "CLOSED"]
