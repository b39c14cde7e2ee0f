"""Facts per conversation: each metric against values worked out by hand from the script of
the call, recomputed when an input changes, tolerant of odd results."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.conversations import services as conversations
from apps.conversations.models import Communication
from apps.conversations.services import CommunicationInput
from apps.insights import services as insights
from apps.insights.models import ConversationFact
from apps.insights.services.facts import conversation_months
from tests.fixtures import insights as build

pytestmark = pytest.mark.django_db


def facts_of(call) -> ConversationFact:
    build.refresh()
    return ConversationFact.objects.get(conversation_id=call.pk)


HUMAN_GREETS_FIRST = [
    ("human", 2, "thank you for calling how can i help", 3),
    ("customer", 6, "i need to replace my card", 2),
    ("human", 9, "sure let me help with that", 2),
    ("customer", 12, "[noise]", 1),  # not speech: never counts
]


def test_a_human_call_where_the_agent_greets_first(world):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    fact = facts_of(call)
    assert fact.mix == "HUMAN" and fact.closed
    assert fact.handle_seconds == 20.0
    # The agent spoke first: the wait is from the call's start to the greeting, 2 s.
    assert fact.first_response_seconds == 2.0
    assert fact.communications == 3
    assert (fact.agent_id, fact.team_id, fact.agent_ids) == (
        world.agent.pk,
        world.north.pk,
        [world.agent.pk],
    )
    assert fact.channel == "VOICE" and str(fact.day) == "2026-11-02"
    assert fact.contained is None and fact.handoff is False and fact.ai_first_word_seconds is None


def test_a_message_thread_measures_first_response_from_the_customers_first_message(world):
    call = build.new_call(
        [
            ("customer", 0, "hi my card was stolen", 0),
            ("customer", 10, "hello?", 0),
            ("human", 70, "hi, sorry for the wait", 0),
        ],
        human="Alice",
        channel="SMS",
    )
    fact = facts_of(call)
    assert fact.first_response_seconds == 70.0
    assert fact.channel == "SMS"
    assert fact.closed is False and fact.handle_seconds is None  # still open


HANDOFF = [
    ("ai", 0, "hi this is the virtual assistant how can i help", 3),
    ("customer", 4, "i want to dispute a charge on my card", 3),  # ends at 7
    ("ai", 8.5, "i can connect you to an agent", 2),  # ends at 10.5
    ("human", 25, "hi this is alice i see you want to dispute a charge", 4),
    ("customer", 30, "yes please", 1),
]


def test_an_ai_to_human_handoff(world):
    call = build.new_call(HANDOFF, human="Alice", close_at=60)
    build.handoff(call, reason="billing dispute")
    fact = facts_of(call)
    assert fact.mix == "HANDOFF" and fact.handoff is True and fact.contained is False
    assert fact.handoff_reason == "billing dispute"
    # The customer's first turn ended at 7 s; the AI answered at 8.5 s.
    assert fact.ai_first_word_seconds == 1.5
    # The customer waited for a human from the AI's last words (10.5 s) to the human's (25 s).
    assert fact.first_response_seconds == 14.5
    assert fact.handle_seconds == 60.0
    assert fact.agent_id == world.agent.pk and fact.team_id == world.north.pk


def test_a_handoff_without_a_recorded_reason_uses_the_reason_code(world):
    call = build.new_call(HANDOFF, human="Alice", close_at=60)
    build.handoff(call, reason="", reason_code="live-agent-handoff")
    assert facts_of(call).handoff_reason == "live-agent-handoff"


AI_ONLY = [
    ("ai", 0, "hello this is the virtual assistant", 2),
    ("customer", 3, "what are your branch hours", 2),  # ends at 5
    ("ai", 5.8, "we are open nine to five on weekdays", 3),
    ("customer", 10, "thanks bye", 1),
]


def test_an_ai_agent_alone_contains_a_closed_call(db):
    call = build.new_call(AI_ONLY, close_at=15)
    fact = facts_of(call)
    assert fact.mix == "AI" and fact.contained is True and fact.handoff is False
    assert fact.ai_first_word_seconds == pytest.approx(0.8)
    assert fact.first_response_seconds is None
    assert fact.agent_id is None and fact.team_id is None


def test_an_open_ai_call_is_not_contained_yet_and_a_recorded_handoff_is_not_contained(db):
    open_call = build.new_call(AI_ONLY)
    assert facts_of(open_call).contained is None
    handed = build.new_call(AI_ONLY, close_at=15)
    build.handoff(handed, reason="wants a person")
    fact = facts_of(handed)
    assert (fact.mix, fact.handoff, fact.contained) == ("AI", True, False)


def test_events_in_any_order_give_the_same_facts(world):
    in_order = facts_of(build.new_call(HANDOFF, human="Alice", close_at=60))
    shuffled = facts_of(build.new_call(HANDOFF, human="Alice", close_at=60, order=[4, 2, 0, 3, 1]))
    fields = [
        f.name
        for f in ConversationFact._meta.fields
        if f.name not in {"conversation", "computed_at"}
    ]
    assert {f: getattr(shuffled, f) for f in fields} == {f: getattr(in_order, f) for f in fields}


def test_a_late_earlier_line_moves_the_first_response(world):
    call = build.new_call(HUMAN_GREETS_FIRST[1:], human="Alice", close_at=20)
    assert facts_of(call).first_response_seconds == pytest.approx(9 - 8)  # after the customer
    # The greeting at 2 s arrives late: the human spoke first after all.
    late = CommunicationInput(
        twilio_id=call.communications[0] + "late",
        conversation_twilio_id=call.twilio_id,
        occurred_at=build.at(call, 2),
        text="thank you for calling",
        author_participant_id=call.participants["human"],
        channel="VOICE",
        duration_ms=3000,
    )
    conversations.communication_apply(late)
    assert facts_of(call).first_response_seconds == 2.0


def test_sentiment_comes_from_the_latest_sentiment_result(world):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    build.twilio_result(
        call,
        operator="Sentiment",
        seconds=10,
        result={"label": "negative", "delta": {"first": -0.6, "last": -0.5, "delta": 0.1}},
    )
    build.twilio_result(
        call,
        operator="Sentiment",
        seconds=20,
        result={
            "label": "mixed",
            "customer": {"label": "positive", "score": 0.4},
            "delta": {"first": -0.4, "last": 0.3, "delta": 0.7},
        },
    )
    fact = facts_of(call)
    assert (fact.sentiment_start, fact.sentiment_end, fact.sentiment_delta) == (-0.4, 0.3, 0.7)
    assert fact.sentiment_label == "positive"  # the customer's, not the whole call's


def test_twilios_label_only_sentiment_gives_a_label_and_no_numbers(world):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    build.twilio_result(
        call, operator="Sentiment", result={"label": "NEGATIVE"}, output_format="CLASSIFICATION"
    )
    fact = facts_of(call)
    assert fact.sentiment_label == "negative" and fact.sentiment_delta is None


def test_adherence_score_and_the_ais_criterion_outcomes(world):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    build.twilio_result(
        call,
        operator="Script Adherence",
        result={
            "score": 50,
            "categories": [
                {
                    "category_key": "opening",
                    "criteria": [
                        {"criteria_key": "greeting", "criteria_met": "Succeeded"},
                        {"criteria_key": "offer_help", "criteria_met": "Failed"},
                        {"criteria_key": "close", "criteria_met": "Pending"},  # not judged yet
                        {"criteria_key": "address", "criteria_met": "NotApplicable"},
                    ],
                }
            ],
        },
    )
    fact = facts_of(call)
    assert fact.ai_adherence_score == 50.0
    assert fact.ai_criteria == {"greeting": "MET", "offer_help": "NOT_MET", "address": "NA"}
    assert fact.human_criteria == {}


@pytest.mark.parametrize(
    "result",
    [
        {"score": "n/a", "categories": "oops"},
        {"score": 1e300, "categories": [None, 3, {"criteria": {"x": 1}}]},
        {"score": "87.5", "categories": [{"criteria": [{"criteria_met": "Succeeded"}, "x"]}]},
        ["not", "an", "object"],
    ],
)
def test_odd_adherence_results_are_read_tolerantly(world, result):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    build.twilio_result(call, operator="Script Adherence", result=result)
    fact = facts_of(call)
    expected = 87.5 if isinstance(result, dict) and result.get("score") == "87.5" else None
    assert fact.ai_adherence_score == expected
    assert fact.ai_criteria == {}


def test_topic_and_outcome_come_from_the_named_classifiers(world, settings):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    build.twilio_result(
        call, operator="Topic", result={"label": "Replace card"}, output_format="CLASSIFICATION"
    )
    build.twilio_result(
        call, operator="Outcome", result={"label": "Resolved"}, output_format="CLASSIFICATION"
    )
    fact = facts_of(call)
    assert (fact.topic, fact.outcome, fact.outcome_source, fact.task_success) == (
        "Replace card",
        "Resolved",
        "classifier",
        True,
    )
    build.twilio_result(
        call,
        operator="Outcome",
        seconds=30,
        result={"label": "follow-up"},
        output_format="CLASSIFICATION",
    )
    assert facts_of(call).task_success is False
    settings.INSIGHTS_SUCCESS_OUTCOMES = ["resolved", "follow-up"]
    build.twilio_result(
        call,
        operator="Outcome",
        seconds=40,
        result={"label": "Follow-up"},
        output_format="CLASSIFICATION",
    )
    assert facts_of(call).task_success is True


def test_a_call_without_a_topic_operator_has_no_topic_nor_task_success(world):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    fact = facts_of(call)
    assert (fact.topic, fact.outcome, fact.task_success) == ("", "", None)


def test_refreshing_again_changes_nothing(world):
    call = build.new_call(HANDOFF, human="Alice", close_at=60)
    fact = facts_of(call)
    insights.facts_refresh([call.pk])  # a second worker, or a retried task
    again = ConversationFact.objects.get(conversation_id=call.pk)
    assert again.computed_at == fact.computed_at  # nothing changed, nothing written


def test_a_refresh_reads_each_conversations_own_months_partitions(db, monkeypatch):
    """The refresh names the conversations' months so PostgreSQL plans their partitions only
    (issue 17): two calls created in different months, one at 23:30 on 31 October in New York
    (already November in UTC, where its lines are kept), refreshed together, count every line."""
    calls = []
    for created in (
        datetime(2026, 10, 31, 23, 30, tzinfo=ZoneInfo("America/New_York")),
        datetime(2026, 9, 3, 9, 0, tzinfo=UTC),
    ):
        monkeypatch.setattr(timezone, "now", lambda created=created: created)
        calls.append(build.new_call(HUMAN_GREETS_FIRST, start=created, close_at=20))
    monkeypatch.undo()
    with connection.cursor() as cursor:
        months = conversation_months(cursor, [call.pk for call in calls])
    stored = set(
        Communication.objects.filter(conversation_id__in=[c.pk for c in calls]).values_list(
            "conversation_month", flat=True
        )
    )
    assert months == sorted(stored) == [date(2026, 9, 1), date(2026, 11, 1)]
    build.refresh()
    facts = ConversationFact.objects.in_bulk([call.pk for call in calls])
    assert [facts[call.pk].communications for call in calls] == [3, 3]


def test_the_refresh_puts_the_join_planning_setting_back(db):
    """The facts statements are planned with their joins as written; the caller's transaction
    gets its own setting back afterwards."""
    call = build.new_call(HUMAN_GREETS_FIRST, close_at=20)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL join_collapse_limit = 5")
        insights.facts_refresh([call.pk])
        cursor.execute("SELECT current_setting('join_collapse_limit')")
        assert cursor.fetchone()[0] == "5"
    assert ConversationFact.objects.get(conversation_id=call.pk).communications == 3
