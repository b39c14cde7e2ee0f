"""Goals: the baseline frozen when set, progress and status from the insights, the status rule at
its boundaries, goal met told once, who may see and set goals, constant queries, and before/after
on the demo's real figures computed by hand."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Agent, Notification, User
from apps.coaching import tasks
from apps.coaching.choices import GoalStatus, Metric
from apps.coaching.models import CoachingSession, Goal
from apps.coaching.selectors import before_after, metrics
from apps.coaching.selectors import goals as goal_selectors
from apps.coaching.services import goals as services
from apps.common.errors import PermissionDenied, ValidationFailed
from apps.insights.models import ConversationFact
from apps.qa.stats import t_quantile
from tests.fixtures.coaching_goals import goal_call, goal_refresh
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def _goal(**fields):
    base = dict(metric=Metric.QA_SCORE, target=90.0, start_on=date(2026, 11, 1),
                due_on=date(2026, 11, 29), progress=85.0, progress_n=5,
                progress_low=80.0, progress_high=90.0)  # fmt: skip
    base.update(fields)
    return Goal(**base)


def _set(world, **extra):
    values = dict(
        user=world.coach,
        agent_id=world.agent.pk,
        metric=Metric.HANDLE_TIME,
        target=15,
        start_on=TODAY - timedelta(days=10),
        due_on=TODAY + timedelta(days=10),
    )
    values.update(extra)
    return services.goal_set(**values)


# The status rule at its boundaries ---------------------------------------------------------


def test_not_enough_data_below_the_minimum_then_met_at_the_target_exactly():
    assert goal_selectors.goal_status(_goal(progress_n=4, progress=95), minimum=5).status == (
        GoalStatus.NOT_ENOUGH_DATA
    )
    reading = goal_selectors.goal_status(_goal(progress=90.0), today=date(2026, 11, 5), minimum=5)
    assert reading.status == GoalStatus.MET


def test_handle_time_is_met_from_above():
    goal = _goal(metric=Metric.HANDLE_TIME, target=60, progress=60.0, progress_low=50.0,
                 progress_high=70.0)  # fmt: skip
    assert goal_selectors.goal_status(goal, today=date(2026, 11, 5), minimum=5).status == "MET"
    goal.progress = 60.5
    assert goal_selectors.goal_status(goal, today=date(2026, 11, 5), minimum=5).status != "MET"


def test_missed_the_day_after_the_due_date_not_on_it():
    goal = _goal(progress=80.0, progress_low=70.0, progress_high=95.0)
    assert goal_selectors.goal_status(goal, today=date(2026, 11, 29), minimum=5).status in (
        GoalStatus.ON_TRACK,
        GoalStatus.AT_RISK,
    )
    assert goal_selectors.goal_status(goal, today=date(2026, 11, 30), minimum=5).status == (
        GoalStatus.MISSED
    )


def test_at_risk_only_with_less_than_half_the_time_left_and_the_better_bound_short():
    goal = _goal(progress=80.0, progress_low=75.0, progress_high=89.9)  # 28 days in all
    half_left = date(2026, 11, 15)  # 14 of 28 left: not less than half
    assert goal_selectors.goal_status(goal, today=half_left, minimum=5).status == "ON_TRACK"
    assert goal_selectors.goal_status(goal, today=half_left + timedelta(days=1),
                                      minimum=5).status == "AT_RISK"  # fmt: skip
    goal.progress_high = 90.0  # the interval's better end reaches the target
    assert goal_selectors.goal_status(goal, today=half_left + timedelta(days=1),
                                      minimum=5).status == "ON_TRACK"  # fmt: skip


def test_at_risk_when_the_interval_supports_a_change_for_the_worse():
    # Baseline 90 ± small (n = 10), progress 70 ± small: worse, whatever the time left.
    goal = _goal(
        baseline=90.0, baseline_n=10, baseline_low=88.0, baseline_high=92.0,
        progress=70.0, progress_n=10, progress_low=68.0, progress_high=72.0, target=95,
    )  # fmt: skip
    reading = goal_selectors.goal_status(goal, today=date(2026, 11, 2), minimum=5)
    assert (reading.status, reading.trend) == (GoalStatus.AT_RISK, metrics.WORSE)


def test_a_frozen_sample_gives_back_the_interval_it_came_from():
    sample = metrics.Sample(Metric.QA_SCORE, 6, 510.0, 43_700.0)
    e = sample.estimate
    again = goal_selectors.frozen_sample(Metric.QA_SCORE, e.value, e.n, e.low, e.high)
    assert (again.n, again.total) == (6, pytest.approx(510.0))
    assert again.squares == pytest.approx(43_700.0)


# Setting goals: the frozen baseline, validation, permissions --------------------------------


def test_the_baseline_is_frozen_when_set_and_stays_when_data_changes(world):
    early = TODAY - timedelta(days=15)
    goal_refresh(*[goal_call(world.agent, early, handle=h) for h in (10, 20, 30)])
    goal = _set(world)
    assert (goal.baseline, goal.baseline_n) == (20.0, 3)
    half = t_quantile(0.975, 2) * 10 / math.sqrt(3)
    assert (goal.baseline_low, goal.baseline_high) == pytest.approx((20 - half, 20 + half))
    goal_refresh(*[goal_call(world.agent, early, handle=100) for _ in range(3)])
    services.goal_recompute(goal_id=goal.pk)
    services.goals_recompute_open()
    goal.refresh_from_db()
    assert (goal.baseline, goal.baseline_n) == (20.0, 3)


def test_progress_and_status_are_recomputed_from_the_start(world):
    goal = _set(world)
    goal_refresh(*[goal_call(world.agent, TODAY - timedelta(days=2), handle=h)
                   for h in (10, 10, 15, 10, 5)])  # fmt: skip
    goal = services.goal_recompute(goal_id=goal.pk)
    assert (goal.progress, goal.progress_n, goal.status) == (10.0, 5, GoalStatus.MET)
    assert goal.met_at is not None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"target": 101, "metric": Metric.QA_SCORE}, "target"),
        ({"target": -3, "metric": Metric.SENTIMENT_DELTA}, "target"),
        ({"target": "lots"}, "target"),
        ({"due_on": TODAY - timedelta(days=10)}, "due_on"),
        ({"metric": Metric.CRITERION_PASS, "criterion_key": "nope", "target": 80}, "criterion_key"),
        ({"metric": "BOGUS"}, "metric"),
    ],
)
def test_goal_set_refuses_bad_input_field_by_field(world, extra, field):
    with pytest.raises(ValidationFailed) as caught:
        _set(world, **extra)
    assert field in caught.value.errors


def test_a_coach_sets_goals_for_their_teams_only_and_agents_never(world):
    with pytest.raises(PermissionDenied):
        _set(world, agent_id=world.other_agent.pk)
    for user in (world.agent_user, world.supervisor, world.outsider):
        with pytest.raises(PermissionDenied):
            _set(world, user=user)


def test_who_sees_which_goals(world, client):
    mine = _set(world)
    theirs = _set(world, user=world.admin, agent_id=world.other_agent.pk)
    assert set(Goal.objects.for_user(world.coach)) == {mine}
    assert set(Goal.objects.for_user(world.agent_user)) == {mine}
    assert set(Goal.objects.for_user(world.other_agent_user)) == {theirs}
    assert not Goal.objects.for_user(world.outsider).exists()
    client.force_login(world.other_agent_user)
    assert client.get(f"/coaching/goals/{mine.pk}/").status_code == 404
    assert client.get(f"/api/coaching/goals/{mine.pk}/").status_code == 404
    assert client.post("/api/coaching/goals/", {}).status_code == 403
    client.force_login(world.outsider)
    assert client.get("/coaching/goals/").status_code == 403


def test_edit_changes_target_and_date_not_the_baseline_and_delete_cancels(world):
    goal = _set(world)
    frozen = (goal.baseline, goal.baseline_n)
    goal = services.goal_update(
        user=world.coach, goal=goal, target=12, due_on=TODAY + timedelta(days=40)
    )
    assert (goal.target, goal.due_on) == (12.0, TODAY + timedelta(days=40))
    assert (goal.baseline, goal.baseline_n) == frozen
    with pytest.raises(PermissionDenied):
        services.goal_delete(user=world.supervisor, goal=goal)
    services.goal_delete(user=world.coach, goal=goal)
    assert not Goal.objects.filter(pk=goal.pk).exists()


# Met: told once; the task runs twice with one effect -----------------------------------------


def test_goal_met_is_told_to_the_agent_and_the_coach_once(world):
    goal = _set(world)
    goal_refresh(*[goal_call(world.agent, TODAY - timedelta(days=1), handle=10) for _ in range(5)])
    tasks.recompute_goals()
    tasks.recompute_goals()
    tasks.recompute_goal(goal.pk)
    told = Notification.objects.filter(kind="coaching.goal_met")
    assert sorted(told.values_list("user_id", flat=True)) == sorted(
        [world.agent_user.pk, world.coach.pk]
    )
    goal.refresh_from_db()
    assert goal.status == GoalStatus.MET


def test_the_recompute_task_twice_stores_the_same_figures(world):
    goal = _set(world)
    goal_refresh(*[goal_call(world.agent, TODAY - timedelta(days=1), handle=h) for h in (20, 30)])
    assert tasks.recompute_goals() == 1
    goal.refresh_from_db()
    first = (goal.progress, goal.progress_n, goal.status)
    assert tasks.recompute_goals() == 1
    goal.refresh_from_db()
    assert (goal.progress, goal.progress_n, goal.status) == first == (25.0, 2, "NO_DATA")
    assert tasks.recompute_goal(10**9) is None  # gone: nothing to do


# Pages: constant queries, rows with their baseline --------------------------------------------


def test_the_goals_list_makes_as_many_queries_for_10_goals_as_for_40(world, client):
    client.force_login(world.coach)
    for _ in range(10):
        _set(world)
    few = queries_for(client, "/coaching/goals/")
    for _ in range(30):
        _set(world)
    assert queries_for(client, "/coaching/goals/") == few
    page = client.get("/coaching/goals/").content.decode()
    assert page.count('data-testid="goal"') == 25 and "baseline" in page


def test_goal_page_and_api_show_the_frozen_baseline_and_progress(world, client):
    goal = _set(world)
    client.force_login(world.agent_user)
    page = client.get(f"/coaching/goals/{goal.pk}/").content.decode()
    assert "frozen when set" in page and 'data-testid="goal-progress"' in page
    data = client.get(f"/api/coaching/goals/{goal.pk}/").json()
    assert data["baseline"]["n"] == goal.baseline_n and "why" in data


# On the demo: goal progress and before/after by hand -------------------------------------------


def _linda_values(column: str, start: date, end: date) -> list[float]:
    linda = Agent.objects.get(display_name="Linda")
    return [
        float(v)
        for v in ConversationFact.objects.filter(
            agent_id=linda.pk, day__gte=start, day__lte=end, **{f"{column}__isnull": False}
        ).values_list(column, flat=True)
    ]


def _linda_dates() -> list[date]:
    linda = Agent.objects.get(display_name="Linda")
    return list(
        ConversationFact.objects.filter(agent_id=linda.pk, qa_score__isnull=False).values_list(
            "day", flat=True
        )
    )


def _mean_interval(values: list[float]) -> tuple[float, float, float]:
    m = statistics.fmean(values)
    half = t_quantile(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def test_goal_progress_and_before_after_match_hand_figures_on_demo_data(demo_qa):
    from apps.demo.insights import demo_insights_load

    demo_insights_load()
    coach = User.objects.get(username="coach")
    linda = Agent.objects.get(display_name="Linda")
    start = TODAY - timedelta(days=6)
    goal = services.goal_set(user=coach, agent_id=linda.pk, metric=Metric.AI_ADHERENCE,
                             target=85, start_on=start, due_on=TODAY + timedelta(days=20),
                             baseline_days=90)  # fmt: skip
    goal = services.goal_recompute(goal_id=goal.pk)
    base = _linda_values(
        "ai_adherence_score", start - timedelta(days=90), start - timedelta(days=1)
    )
    progress = _linda_values("ai_adherence_score", start, TODAY)
    assert goal.baseline_n == len(base) and goal.progress_n == len(progress)
    assert len(progress) >= 2  # the demo's real rows (a handful in the fixture)
    assert (goal.progress, goal.progress_low, goal.progress_high) == pytest.approx(
        _mean_interval(progress)
    )
    if len(base) >= 2:
        assert (goal.baseline, goal.baseline_low, goal.baseline_high) == pytest.approx(
            _mean_interval(base)
        )
    # A session with Linda four days ago: the QA score 4 days before against the 4 days from it.
    days = sorted(set(_linda_dates()))
    pivot = days[-1]  # her latest reviewed day: some reviews after it, perhaps some before
    noon = timezone.make_aware(datetime.combine(pivot, time(12)))
    session = CoachingSession.objects.create(
        agent=linda, coach=coach, title="Check-in", scheduled_at=noon
    )
    rows = before_after.session_before_after(user=coach, session=session, days=30, today=TODAY)
    qa = rows[0]
    length = (TODAY - pivot).days + 1  # the "after" is cut at today, the "before" as long
    before = _linda_values("qa_score", pivot - timedelta(days=length), pivot - timedelta(days=1))
    after = _linda_values("qa_score", pivot, TODAY)
    assert (qa.before.n, qa.after.n) == (len(before), len(after))
    assert after
    assert qa.after.value == pytest.approx(statistics.fmean(after))
    if min(len(before), len(after)) < 5:
        assert qa.verdict == metrics.NOT_ENOUGH and qa.words == "not enough data yet"


def test_the_demo_sets_its_goals_once_and_none_is_met_by_its_baseline(demo_qa):
    from apps.coaching.selectors.goals import reaches
    from apps.demo.coaching_goals import demo_goals_load

    first = demo_goals_load()
    assert first.created >= 1
    assert demo_goals_load().created == 0  # idempotent
    for goal in Goal.objects.all():
        # A goal already reached by its own baseline would be "met" the day it is set.
        assert goal.baseline is None or not reaches(goal.metric, goal.baseline, goal.target)


def test_figures_are_shown_within_their_metrics_range():
    from apps.coaching.selectors.goals import bounded, fmt

    # A mean score of 91.7 from four calls has a t interval reaching 118.2: no score can.
    assert fmt(Metric.QA_SCORE, 118.2) == "100.0"
    assert fmt(Metric.CRITERION_PASS, -3.0) == "0.0%"
    assert fmt(Metric.SENTIMENT_DELTA, 2.4) == "+2.00"
    assert bounded(Metric.HANDLE_TIME, -12.0) == 0.0 and bounded(Metric.HANDLE_TIME, 900.0) == 900
