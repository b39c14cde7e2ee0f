"""Rollups are sums of the facts per bucket: they equal a recomputation from the facts after
events arrive late, out of order and twice, follow a conversation that moves between buckets,
and two workers refreshing at once cannot double count."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection, connections

from apps.insights import services as insights
from apps.insights.models import (
    ConversationFact,
    CriterionRollup,
    DirtyBucket,
    LabelRollup,
    Rollup,
    StaleConversation,
)
from apps.insights.services import rebuild
from tests.fixtures import insights as build
from tests.insights.test_facts import AI_ONLY, HANDOFF, HUMAN_GREETS_FIRST

BUCKET = ("day", "team_id", "agent_id", "queue", "channel")


def expected_from_facts() -> dict[tuple, dict[str, float]]:
    """The rollups, recomputed in Python from the fact rows."""
    sums: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for fact in ConversationFact.objects.all():
        row = sums[tuple(getattr(fact, k) for k in BUCKET)]
        row["conversations"] += 1
        row["closed"] += fact.closed
        if fact.handle_seconds is not None:
            row["handle_n"] += 1
            row["handle_sum"] += fact.handle_seconds
        if fact.first_response_seconds is not None:
            row["first_response_n"] += 1
            row["first_response_sum"] += fact.first_response_seconds
        if fact.qa_score is not None:
            row["qa_n"] += 1
            row["qa_sum"] += fact.qa_score
        if fact.ai_adherence_score is not None:
            row["adherence_n"] += 1
            row["adherence_sum"] += fact.ai_adherence_score
        row["contained"] += bool(fact.contained)
        row["ai_closed"] += fact.contained is not None
        row["handoffs"] += fact.handoff
        row["flags"] += fact.flags
        row["reviews"] += fact.reviews
    return {key: dict(value) for key, value in sums.items()}


def stored_rollups() -> dict[tuple, dict[str, float]]:
    fields = [
        "conversations", "closed", "handle_n", "handle_sum", "first_response_n",
        "first_response_sum", "qa_n", "qa_sum", "adherence_n", "adherence_sum", "contained",
        "ai_closed", "handoffs", "flags", "reviews",
    ]  # fmt: skip
    return {
        tuple(getattr(r, k) for k in BUCKET): {
            f: getattr(r, f) for f in fields if getattr(r, f) or f == "conversations"
        }
        for r in Rollup.objects.all()
    }


def assert_rollups_match_facts() -> None:
    expected = expected_from_facts()
    stored = stored_rollups()
    assert stored.keys() == expected.keys()
    for key, values in expected.items():
        got = stored[key]
        assert {k: v for k, v in values.items() if v} == pytest.approx(got), key


def criterion_counts_from_facts() -> dict[tuple, int]:
    counts: dict[tuple, int] = defaultdict(int)
    for fact in ConversationFact.objects.all():
        for source, criteria in (("AI", fact.ai_criteria), ("HUMAN", fact.human_criteria)):
            for key, outcome in criteria.items():
                counts[(fact.agent_id, source, key, outcome)] += 1
    return dict(counts)


def stored_criterion_counts() -> dict[tuple, int]:
    counts: dict[tuple, int] = defaultdict(int)
    for r in CriterionRollup.objects.all():
        for source, prefix in (("AI", "ai_"), ("HUMAN", "human_")):
            for outcome, column in (("MET", "met"), ("NOT_MET", "not_met"), ("NA", "na")):
                if n := getattr(r, prefix + column):
                    counts[(r.agent_id, source, r.criterion_key, outcome)] += n
    return dict(counts)


def mixed_day(world, *, order=None):
    """A day of calls: two human calls (one late and reordered), a handoff, an AI call; and
    the world's two calls (written by builders, so marked stale here)."""
    insights.facts_mark_stale([world.north_call.pk, world.south_call.pk])
    calls = [
        build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20),
        build.new_call(HUMAN_GREETS_FIRST, human="Bob", close_at=30, order=order),
        build.new_call(HANDOFF, human="Alice", close_at=60, order=order),
        build.new_call(AI_ONLY, close_at=15),
    ]
    build.handoff(calls[2], reason="billing dispute")
    for call in calls:
        build.twilio_result(call, operator="Script Adherence", result=adherence(call.pk % 3))
    return calls


def adherence(variant: int) -> dict:
    met = ["Succeeded", "Failed", "NotApplicable"][variant]
    return {
        "score": [100, 40, 75][variant],
        "categories": [
            {"criteria": [{"criteria_key": "greeting", "criteria_met": met},
                          {"criteria_key": "offer_help", "criteria_met": "Succeeded"}]}
        ],
    }  # fmt: skip


@pytest.mark.django_db
def test_rollups_equal_the_facts_summed_per_bucket(world):
    mixed_day(world)
    build.refresh()
    # Alice/north and Bob/south on 2 November and today (the world's calls), the AI alone.
    assert Rollup.objects.count() == 5
    assert_rollups_match_facts()
    assert stored_criterion_counts() == criterion_counts_from_facts()
    alice = Rollup.objects.get(agent=world.agent, day=build.START.date())
    assert (alice.conversations, alice.handoffs, alice.handle_sum) == (2, 1, 80.0)
    ai = Rollup.objects.get(agent__isnull=True)
    assert (ai.ai_handled, ai.ai_closed, ai.contained) == (1, 1, 1)
    assert LabelRollup.objects.get(kind="HANDOFF").label == "billing dispute"


@pytest.mark.django_db
def test_out_of_order_and_duplicated_events_give_the_same_rollups(world):
    mixed_day(world, order=[3, 1, 2, 0])  # HUMAN_GREETS_FIRST has 4 lines; HANDOFF 5
    build.refresh()
    first = stored_rollups()
    # Everything delivered again (a retried webhook, a replayed inbox) and refreshed twice.
    for fact in ConversationFact.objects.all():
        insights.facts_mark_stale([fact.conversation_id, fact.conversation_id])
    build.refresh()
    build.refresh()
    assert stored_rollups() == first
    assert_rollups_match_facts()


@pytest.mark.django_db
def test_a_full_rebuild_equals_the_incremental_rollups(world):
    mixed_day(world)
    build.refresh()
    incremental = stored_rollups(), stored_criterion_counts()
    report = insights.insights_rebuild()
    assert report.conversations == ConversationFact.objects.count() == 6
    assert (stored_rollups(), stored_criterion_counts()) == incremental
    insights.insights_rebuild()  # and again
    assert (stored_rollups(), stored_criterion_counts()) == incremental


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_on_several_connections_writes_what_one_connection_does(world, monkeypatch):
    mixed_day(world)
    build.refresh()
    incremental = stored_rollups(), stored_criterion_counts()
    one = insights.insights_rebuild(workers=1)
    facts = {f.conversation_id: f.qa_score for f in ConversationFact.objects.all()}
    ConversationFact.objects.all().delete()
    monkeypatch.setattr(rebuild, "MIN_CHUNK", 1)  # a chunk per conversation or two
    several = insights.insights_rebuild(workers=3)
    assert several.workers == 3 and one.workers == 1
    assert several.conversations == one.conversations == len(facts) == 6
    assert {f.conversation_id: f.qa_score for f in ConversationFact.objects.all()} == facts
    assert (stored_rollups(), stored_criterion_counts()) == incremental


@pytest.mark.django_db
def test_a_conversation_that_moves_bucket_leaves_its_old_one(world):
    call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20)
    build.refresh()
    assert Rollup.objects.get().agent_id == world.agent.pk
    # Its start was wrong: the conversation really began a day earlier (a late CREATED event).
    build.conversations.conversation_apply(
        twilio_id=call.twilio_id,
        status="CLOSED",
        version=build.at(call, 21),
        created_at=call.start - timedelta(days=1),
    )
    build.refresh()
    (rollup,) = Rollup.objects.all()
    assert str(rollup.day) == "2026-11-01" and rollup.conversations == 1
    assert_rollups_match_facts()


@pytest.mark.django_db
def test_logs_are_empty_after_a_refresh(world):
    mixed_day(world)
    report = build.refresh()
    assert report.complete and report.conversations >= 4
    assert not StaleConversation.objects.exists() and not DirtyBucket.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_do_not_double_count(world):
    calls = [build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20) for _ in range(12)]
    calls += [build.new_call(HANDOFF, human="Alice", close_at=60) for _ in range(6)]
    # Every conversation marked stale many times over, as a busy ingest would.
    for _ in range(5):
        insights.facts_mark_stale([c.pk for c in calls])
    failures: list[BaseException] = []
    barrier = threading.Barrier(3)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                insights.facts_refresh_stale(limit=7)
                insights.rollups_refresh_dirty(limit=3)
            insights.insights_refresh()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    connection.close()
    assert ConversationFact.objects.count() == 18
    assert_rollups_match_facts()
    (alice,) = Rollup.objects.filter(agent=world.agent).values_list("conversations", flat=True)
    assert alice == 18


@pytest.mark.django_db
def test_buckets_with_and_without_an_agent_rebuilt_together_read_exactly_their_facts(world):
    """The bucket rebuild reads the facts through the agent's index, and an agentless bucket's
    through ``agent_id IS NULL`` (issue 17): every bucket at once, or Alice's alone beside the
    AI's, gives the sums of exactly their facts, and leaves the other buckets as they were."""
    mixed_day(world)
    build.refresh()
    buckets = {tuple(getattr(f, k) for k in BUCKET) for f in ConversationFact.objects.all()}
    before = stored_rollups(), stored_criterion_counts()
    Rollup.objects.all().delete()
    CriterionRollup.objects.all().delete()
    LabelRollup.objects.all().delete()
    assert insights.rollups_rebuild_buckets(buckets) == 5
    assert (stored_rollups(), stored_criterion_counts()) == before

    alice_day = next(b for b in buckets if b[2] == world.agent.pk and b[0] == build.START.date())
    agentless = next(b for b in buckets if b[2] is None)
    Rollup.objects.filter(agent=world.agent).update(conversations=99)
    Rollup.objects.filter(agent__isnull=True).update(conversations=99)
    insights.rollups_rebuild_buckets([alice_day, agentless])
    assert Rollup.objects.get(agent__isnull=True).conversations == 1
    assert Rollup.objects.get(agent=world.agent, day=build.START.date()).conversations == 2
    # Alice's other day (the world's call, today) was not in the rebuild.
    assert Rollup.objects.exclude(day=build.START.date()).get(agent=world.agent).conversations == 99
