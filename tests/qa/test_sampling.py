"""Sampling policies: periods and schedules, what a policy picks and why, quotas, filters, even
spread over reviewers, and runs that never duplicate."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.common.errors import PermissionDenied, ValidationFailed
from apps.conversations.choices import ParticipantType
from apps.conversations.models import Participant
from apps.qa import selectors, services
from apps.qa.choices import ItemSource, ItemStatus
from apps.qa.models import QueueItem
from tests.fixtures import builders

pytestmark = pytest.mark.django_db

# Wednesday of ISO week 2026-W49 (Nov 30 - Dec 6), noon UTC.
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=ZoneInfo("UTC"))


def calls(agent, n: int, *, hours_ago: float = 2, **extra):
    """``n`` closed calls of ``agent`` that ended in the week of NOW."""
    return [
        builders.make_conversation(
            agent=agent,
            started_at=NOW - timedelta(hours=hours_ago + i),
            texts=[("agent", "hello"), ("customer", "hi")],
            **extra,
        )
        for i in range(n)
    ]


def policy(admin, **data):
    return services.policy_create(user=admin, data={"name": "Weekly", **data})


def spec(**data):
    return services.policy_spec_clean({"name": "Preview", **data})


# Periods and schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start", "key"),
    [
        ("DAY", datetime(2026, 12, 2), "2026-12-02"),
        ("WEEK", datetime(2026, 11, 30), "2026-W49"),
        ("MONTH", datetime(2026, 12, 1), "2026-12"),
    ],
)
def test_a_period_starts_at_local_midnight_and_has_a_stable_key(period, start, key):
    window = services.period_window(period, NOW)
    assert window.key == key
    assert timezone.localtime(window.start).replace(tzinfo=None) == start
    assert window.start <= NOW < window.end


def test_a_week_across_a_dst_change_still_ends_on_local_midnight(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with timezone.override("Europe/Berlin"):
        # Summer time ends on Sunday, October 25, 2026: that week is an hour longer.
        window = services.period_window("WEEK", datetime(2026, 10, 21, 12, tzinfo=ZoneInfo("UTC")))
        end = timezone.localtime(window.end)
    assert (end.hour, end.minute, end.weekday()) == (0, 0, 0)
    utc = ZoneInfo("UTC")
    assert window.end.astimezone(utc) - window.start.astimezone(utc) == timedelta(days=7, hours=1)


def test_the_next_run_follows_the_crontab_line():
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=ZoneInfo("UTC"))
    assert services.next_run("0 6 * * mon-fri", friday_evening) == datetime(
        2026, 12, 7, 6, 0, tzinfo=ZoneInfo("UTC")
    )
    assert services.next_run("*/15 * * * *", friday_evening) == friday_evening + timedelta(
        minutes=15
    )


def test_a_policy_with_a_broken_schedule_or_quota_names_every_problem(world):
    with pytest.raises(ValidationFailed) as failed:
        services.policy_spec_clean(
            {
                "name": "",
                "schedule": "every monday",
                "quota_kind": "PERCENT",
                "percent": 150,
                "adherence_min": 90,
                "adherence_max": 50,
                "reviewer_ids": [world.agent_user.pk],
                "participant_mix": ["ROBOT"],
            }
        )
    assert set(failed.value.errors) == {
        "name",
        "schedule",
        "percent",
        "adherence_max",
        "reviewer_ids",
        "participant_mix",
    }


def test_only_admins_write_policies(world):
    with pytest.raises(PermissionDenied):
        policy(world.qa_analyst)


# What a policy picks ----------------------------------------------------------------------------


def test_it_picks_n_conversations_per_agent_that_ended_in_the_period(world):
    calls(world.agent, 5)
    calls(world.other_agent, 2)
    calls(world.agent, 3, hours_ago=24 * 8)  # last week
    picking = services.policy_pick(spec(quota_count=3), now=NOW)
    by_agent = {}
    for pick in picking.picks:
        by_agent.setdefault(pick.agent_id, []).append(pick)
    assert {k: len(v) for k, v in by_agent.items()} == {world.agent.pk: 3, world.other_agent.pk: 2}
    assert [p.rank for p in by_agent[world.agent.pk]] == [1, 2, 3]
    assert {p.target for p in by_agent[world.other_agent.pk]} == {2}
    assert picking.matching == 7  # the world's own calls end after NOW: not yet


def test_a_share_per_agent_rounds_up_and_keeps_its_minimum(world):
    calls(world.agent, 10)
    calls(world.other_agent, 3)
    picking = services.policy_pick(spec(quota_kind="PERCENT", percent=25, minimum=2), now=NOW)
    count = {}
    for pick in picking.picks:
        count[pick.agent_id] = count.get(pick.agent_id, 0) + 1
    assert count[world.agent.pk] == 3  # ceil(25% of 10 or 11)
    assert count[world.other_agent.pk] == 2  # the minimum (25% of 3 or 4 is 1)


def test_filters_narrow_the_picks(world):
    team_calls = calls(world.agent, 2, queue="cards")
    calls(world.other_agent, 2, queue="loans")
    picked = services.policy_pick(spec(queues=["cards"], quota_count=5), now=NOW).picks
    assert {p.conversation_id for p in picked} == {c.pk for c in team_calls}
    picked = services.policy_pick(spec(team_ids=[world.south.pk], quota_count=5), now=NOW).picks
    assert {p.agent_id for p in picked} == {world.other_agent.pk}
    short = services.policy_pick(spec(duration_max_seconds=5, quota_count=5), now=NOW).picks
    assert not short  # two lines, 5 s apart: every call lasts 10 s


def test_the_participant_mix_filter_tells_ai_only_calls_and_handoffs_apart(world):
    human = calls(world.agent, 1)[0]
    handoff = calls(world.agent, 1, hours_ago=3)[0]
    ai_only = builders.make_conversation(started_at=NOW - timedelta(hours=4))
    for conversation in (handoff, ai_only):
        Participant.objects.create(
            twilio_id=f"ai-{conversation.pk}",
            conversation=conversation,
            type=ParticipantType.AI_AGENT,
            name="Virtual agent",
        )

    def picked(mix):
        return {
            p.conversation_id
            for p in services.policy_pick(spec(participant_mix=mix, quota_count=9), now=NOW).picks
        }

    assert human.pk in picked(["HUMAN"]) and handoff.pk not in picked(["HUMAN"])
    assert picked(["HANDOFF"]) == {handoff.pk}
    assert picked(["AI"]) == {ai_only.pk}


def test_sentiment_and_adherence_filters_read_the_ais_latest_results(world):
    from tests.fixtures import qa as build

    build.publish_script(world.admin)
    greeted = builders.make_conversation(
        agent=world.agent,
        started_at=NOW - timedelta(hours=2),
        texts=[
            ("agent", "thank you for calling how can i help"),
            ("customer", "this is awful i am furious"),
        ],
    )
    silent = builders.make_conversation(
        agent=world.agent,
        started_at=NOW - timedelta(hours=3),
        texts=[("agent", "yes"), ("customer", "great thanks so much")],
    )
    build.judge(greeted, silent)
    high = services.policy_pick(spec(adherence_min=60, quota_count=9), now=NOW).picks
    low = services.policy_pick(spec(adherence_max=10, quota_count=9), now=NOW).picks
    assert {p.conversation_id for p in high} == {greeted.pk}
    assert {p.conversation_id for p in low} == {silent.pk}
    unhappy = services.policy_pick(spec(sentiments=["negative"], quota_count=9), now=NOW).picks
    assert {p.conversation_id for p in unhappy} == {greeted.pk}


def test_a_preview_shows_exactly_what_the_run_then_picks(world):
    calls(world.agent, 6)
    saved = policy(world.admin, quota_count=2)
    preview = selectors.policy_preview(user=world.admin, spec=services.spec_of(saved), now=NOW)
    services.policy_run(policy_id=saved.pk, now=NOW)
    queued = set(QueueItem.objects.filter(policy=saved).values_list("conversation_id", flat=True))
    assert {row.conversation.pk for row in preview.rows} == queued
    assert len(queued) == 2


# Runs -------------------------------------------------------------------------------------------


def test_each_pick_says_why_it_was_picked(world):
    calls(world.agent, 4)
    saved = policy(world.admin, quota_count=3)
    services.policy_run(policy_id=saved.pk, now=NOW)
    items = QueueItem.objects.filter(policy=saved, agent=world.agent).order_by("pick__rank")
    assert [item.reason for item in items] == [
        f"Sampled by “Weekly”: 3 per agent per week, #{n} of 3" for n in (1, 2, 3)
    ]
    pick = items[0].pick
    assert pick["period"] == "2026-W49" and pick["population"] == 4
    assert pick["filters"] == ["every closed conversation"]
    assert items[0].source == ItemSource.SAMPLING and items[0].period == "2026-W49"


def test_a_policy_run_twice_in_one_period_creates_no_duplicate(world):
    calls(world.agent, 5)
    saved = policy(world.admin, quota_count=2)
    first = services.policy_run(policy_id=saved.pk, now=NOW)
    second = services.policy_run(policy_id=saved.pk, now=NOW + timedelta(hours=5))
    assert first.created == 2
    assert second.created == 0 and second.already == 2
    assert QueueItem.objects.filter(policy=saved).count() == 2


def test_a_later_run_tops_up_when_new_calls_arrive_and_a_removed_pick_stays_removed(world):
    calls(world.agent, 1)
    saved = policy(world.admin, quota_count=3)
    services.policy_run(policy_id=saved.pk, now=NOW)
    assert QueueItem.objects.filter(policy=saved, agent=world.agent).count() == 1
    removed = QueueItem.objects.filter(policy=saved, agent=world.agent).first()
    services.queue_item_remove(user=world.admin, item=removed, reason="Test call")
    calls(world.agent, 3, hours_ago=1)
    services.policy_run(policy_id=saved.pk, now=NOW + timedelta(hours=1))
    live = QueueItem.objects.filter(policy=saved, agent=world.agent).exclude(
        status=ItemStatus.REMOVED
    )
    assert live.count() == 3
    assert removed.conversation_id not in set(live.values_list("conversation_id", flat=True))


def test_a_new_period_picks_again(world):
    # An agent of its own: the world's calls are made at the real "now", which may fall in
    # either of the two weeks this test runs in.
    agent = builders.make_agent(team=world.north)
    calls(agent, 2)
    saved = policy(world.admin, quota_count=1, agent_ids=[agent.pk])
    services.policy_run(policy_id=saved.pk, now=NOW)
    calls(agent, 2, hours_ago=-24 * 6)  # next week
    result = services.policy_run(policy_id=saved.pk, now=NOW + timedelta(days=7))
    assert result.period == "2026-W50" and result.created == 1


def test_picks_are_spread_evenly_over_the_reviewers(world):
    reviewers = [builders.make_user(role=Role.QA_ANALYST) for _ in range(3)]
    agents = [builders.make_agent(team=world.north) for _ in range(3)]
    for agent in agents:
        calls(agent, 3)
    saved = policy(
        world.admin,
        quota_count=3,
        agent_ids=[a.pk for a in agents],
        reviewer_ids=[r.pk for r in reviewers],
    )
    result = services.policy_run(policy_id=saved.pk, now=NOW)
    assert result.created == 9
    assert sorted(result.assigned.values()) == [3, 3, 3]
    per_reviewer = {
        r.pk: QueueItem.objects.filter(policy=saved, assignee=r).count() for r in reviewers
    }
    assert set(per_reviewer.values()) == {3}


def test_a_reviewer_never_gets_their_own_conversation_and_a_coach_only_their_teams(world):
    own = calls(world.agent, 2)
    calls(world.other_agent, 2)
    world.agent.user = world.qa_analyst  # the analyst also takes calls
    world.agent.save()
    saved = policy(world.admin, quota_count=2, reviewer_ids=[world.qa_analyst.pk, world.coach.pk])
    services.policy_run(policy_id=saved.pk, now=NOW)
    for item in QueueItem.objects.filter(policy=saved):
        if (
            item.conversation_id in {c.pk for c in own}
            or item.conversation.team_id == world.north.pk
        ):
            assert item.assignee_id == world.coach.pk  # not the analyst: it is theirs
        else:
            assert item.assignee_id == world.qa_analyst.pk  # south: not the coach's team


def test_due_policies_run_on_their_schedule_only(world):
    calls(world.agent, 2)
    saved = policy(world.admin, quota_count=1, schedule="0 6 * * *")
    saved.refresh_from_db()
    assert saved.next_run_at is not None
    assert services.policies_run_due(now=saved.next_run_at - timedelta(minutes=1)) == []
    ran = services.policies_run_due(now=saved.next_run_at)
    assert [r.policy_id for r in ran] == [saved.pk]
    saved.refresh_from_db()
    assert saved.next_run_at > saved.last_run_at


def test_an_inactive_policy_never_runs_on_its_own(world):
    saved = policy(world.admin, is_active=False)
    saved.refresh_from_db()
    assert saved.next_run_at is None
    assert services.policies_run_due(now=timezone.now() + timedelta(days=30)) == []


def test_the_quota_text_reads_as_a_person_would_say_it():
    assert spec(quota_count=3, period="WEEK").quota_text == "3 per agent per week"
    assert (
        spec(quota_kind="PERCENT", percent=Decimal("12.5"), minimum=2, period="MONTH").quota_text
        == "12.5% per agent per month, at least 2"
    )
