"""How facts stay current: every writer marks them stale in its own transaction, a worker
refreshes after commit, tasks are safe to run twice; suggestions are scored once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps as django_apps

from apps.insights import services as insights
from apps.insights import sql
from apps.insights.models import ConversationFact, Rollup, StaleConversation, SuggestionScore
from apps.insights.tasks import refresh_insights
from apps.qa import services as qa
from apps.qa.models import Review
from apps.webhooks import services as webhooks
from tests.fixtures import insights as build
from tests.fixtures.twilio import AUTH_TOKEN, ORCHESTRATOR, fixture, post_json
from tests.insights.test_facts import HUMAN_GREETS_FIRST
from tests.qa.test_reviews import full_answers, start

pytestmark = pytest.mark.django_db


def test_the_table_names_the_sql_reads_are_the_models_tables():
    for key, table in sql.TABLES.items():
        assert table in {m._meta.db_table for m in django_apps.get_models()}, key


def test_every_ingest_write_marks_the_conversation_stale(world):
    call = build.new_call(HUMAN_GREETS_FIRST[:1], human="Alice")
    marked = StaleConversation.objects.filter(conversation_id=call.pk).count()
    # created, 1 participant, 1 communication
    assert marked == 3
    build.close(call, 10)
    build.handoff(call, reason="x")
    build.twilio_result(call, operator="Sentiment", result={"label": "neutral"})
    assert StaleConversation.objects.filter(conversation_id=call.pk).count() == marked + 3


def test_a_signed_orchestrator_event_reaches_the_rollups(world, settings, client):
    settings.TWILIO_AUTH_TOKENS = [f"AC00000000000000000000000000000000:{AUTH_TOKEN}"]
    settings.PUBLIC_BASE_URL = "https://portal.example.com"
    for name in ("conversation_created", "participant_added", "communication_created"):
        assert post_json(client, ORCHESTRATOR, fixture(name)).status_code in (200, 202, 204)
    webhooks.inbox_drain(max_seconds=30)
    build.refresh()
    (fact,) = ConversationFact.objects.all()
    assert fact.communications == 1 and fact.mix == "NONE"  # only the customer so far
    assert Rollup.objects.get().conversations == 1


def test_the_refresh_task_runs_twice_with_one_effect(world):
    build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    first = refresh_insights.apply().get()
    second = refresh_insights.apply().get()
    assert first["conversations"] == 1 and first["complete"]
    assert second == {"conversations": 0, "buckets": 0, "complete": True}
    assert Rollup.objects.get().conversations == 1


def test_calibration_reviews_never_count(world, script):
    review = start(world)
    qa.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    build.refresh()
    assert ConversationFact.objects.get(conversation=world.north_call).qa_score == 80.0
    Review.objects.filter(pk=review.pk).update(is_calibration=True)
    insights.facts_refresh([world.north_call.pk])
    fact = ConversationFact.objects.get(conversation=world.north_call)
    assert fact.qa_score is None and fact.reviews == 0


def test_a_suggestion_is_scored_by_the_agents_next_turn(world):
    call = build.new_call(
        [
            ("customer", 0, "i need to replace my card", 2),
            ("human", 4, "okay i will order a new card for you right now", 3),
            ("customer", 8, "thanks", 1),
            ("ai", 10, "is there anything else", 1),
        ],
        human="Alice",
        close_at=20,
    )
    for asked in (call.communications[0], call.communications[2]):
        build.twilio_result(
            call,
            operator="Next Best Response",
            result={"text": "I can order a replacement card for you today", "in_reply_to": asked},
        )
    build.refresh()
    fact = ConversationFact.objects.get(conversation_id=call.pk)
    # Only the first was answered by the human: "order" and "card" of order, replacement,
    # card, today. The second was answered by the AI agent, never shown to a person.
    (score,) = SuggestionScore.objects.filter(conversation_id=call.pk)
    assert score.closeness == 0.5 and score.operator == "Next Best Response"
    assert (fact.suggestions, fact.suggestion_closeness_sum, fact.suggestions_followed) == (
        1,
        0.5,
        1,
    )


def test_closeness_is_the_share_of_the_suggestions_content_words_said():
    # reset, password, app: two of three said (rounded to 4 places as stored).
    assert insights.closeness("Reset your password from the app", "tap reset then password") == (
        0.6667
    )
    assert insights.closeness("Sure, okay.", "anything") is None  # no content words
    assert insights.closeness("Order a card", "") == 0.0


def test_a_call_in_progress_settles_before_its_facts_are_refreshed_then_once_for_all_marks(
    world, settings
):
    settings.INSIGHTS_ACTIVE_SETTLE_SECONDS = 30
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice")  # still in progress
    marks = StaleConversation.objects.filter(conversation_id=call.pk)
    assert marks.count() > 1

    assert insights.facts_refresh_stale() == 0  # the newest marks are seconds old
    assert not ConversationFact.objects.filter(conversation_id=call.pk).exists()

    oldest = marks.order_by("id").first()
    StaleConversation.objects.filter(pk=oldest.pk).update(
        marked_at=oldest.marked_at - timedelta(seconds=31)
    )
    assert insights.facts_refresh_stale() == 1  # one refresh answers every mark of the call
    assert not marks.exists()
    assert ConversationFact.objects.get(conversation_id=call.pk).communications == 3


def test_a_closed_call_is_refreshed_at_once_whatever_the_settling_time(world, settings):
    settings.INSIGHTS_ACTIVE_SETTLE_SECONDS = 30
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    assert insights.facts_refresh_stale() == 1
    assert ConversationFact.objects.get(conversation_id=call.pk).closed
    assert not StaleConversation.objects.exists()
