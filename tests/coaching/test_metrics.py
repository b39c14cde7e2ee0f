"""An agent's metrics over a window, from the insights rollups of constructed conversations,
against figures computed by hand; and the verdicts of before/after."""

from __future__ import annotations

import math
from datetime import date

import pytest

from apps.coaching.choices import Metric
from apps.coaching.selectors import metrics
from tests.fixtures import qa as qa_build
from tests.fixtures.coaching_goals import goal_call, goal_refresh

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 10)
T_2 = 4.302652729911275  # Student's t, 97.5th percentile, 2 degrees of freedom
T_3 = 3.182446305284263


def test_handle_time_mean_and_t_interval_match_hand_figures(world):
    calls = [goal_call(world.agent, DAY, handle=h) for h in (10, 20, 30)]
    goal_refresh(*calls)
    sample = metrics.metric_sample(
        user=world.admin, agent_id=world.agent.pk, metric=Metric.HANDLE_TIME, start=DAY, end=DAY
    )
    assert (sample.n, sample.total, sample.squares) == (3, 60.0, 1400.0)
    estimate = sample.estimate
    half = T_2 * 10 / math.sqrt(3)  # sd of 10, 20, 30 is 10
    assert estimate.value == pytest.approx(20.0)
    assert (estimate.low, estimate.high) == pytest.approx((20 - half, 20 + half))


def test_the_window_is_inclusive_and_other_days_do_not_count(world):
    inside = [goal_call(world.agent, date(2026, 11, d), handle=10) for d in (9, 11)]
    outside = [goal_call(world.agent, date(2026, 11, d), handle=50) for d in (8, 12)]
    goal_refresh(*inside, *outside)
    sample = metrics.metric_sample(
        user=world.admin,
        agent_id=world.agent.pk,
        metric=Metric.HANDLE_TIME,
        start=date(2026, 11, 9),
        end=date(2026, 11, 11),
    )
    assert (sample.n, sample.total) == (2, 20.0)


def test_qa_score_and_a_criterion_pass_rate_from_reviews(world):
    version = qa_build.publish_script(world.admin)
    calls = [
        goal_call(world.agent, DAY, version=version, score=s, outcomes={"greeting": o})
        for s, o in ((80, "MET"), (90, "MET"), (100, "NOT_MET"), (70, "NA"))
    ]
    goal_refresh(*calls)
    found = metrics.samples(user=world.admin, agent_id=world.agent.pk, start=DAY, end=DAY)
    qa = found[(Metric.QA_SCORE, "")]
    assert (qa.n, qa.total, qa.squares) == (4, 340.0, 6400 + 8100 + 10000 + 4900)
    sd = math.sqrt(((80 - 85) ** 2 + (90 - 85) ** 2 + (100 - 85) ** 2 + (70 - 85) ** 2) / 3)
    assert (qa.estimate.low, qa.estimate.high) == pytest.approx(
        (85 - T_3 * sd / 2, 85 + T_3 * sd / 2)
    )
    greeting = found[(Metric.CRITERION_PASS, "greeting")]
    assert (greeting.n, greeting.total) == (3, 2.0)  # N/A is not a trial
    # Wilson's interval for 2 of 3 by hand: centre and half-width with z = 1.96
    z = 1.959963984540054
    p, n = 2 / 3, 3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (greeting.estimate.low, greeting.estimate.high) == pytest.approx(
        (centre - half, centre + half)
    )


def test_an_agent_sees_their_own_metrics_and_not_another_agents(world):
    goal_refresh(goal_call(world.other_agent, DAY, handle=10))
    sample = metrics.metric_sample(
        user=world.agent_user,
        agent_id=world.other_agent.pk,
        metric=Metric.HANDLE_TIME,
        start=DAY,
        end=DAY,
    )
    assert sample.n == 0


def test_compare_says_not_enough_below_the_minimum():
    before = metrics.Sample(Metric.QA_SCORE, 4, 320.0, 25700.0)
    after = metrics.Sample(Metric.QA_SCORE, 9, 900.0, 90000.0)
    assert metrics.compare(before, after, minimum=5)[0] == metrics.NOT_ENOUGH


def test_compare_improved_only_when_the_welch_interval_is_above_zero():
    # before: 60, 70, 80, 70, 70 (mean 70, variance 50); after: 90, 80, 100, 90, 90 (mean 90)
    before = metrics.Sample(Metric.QA_SCORE, 5, 350.0, 3600 + 4900 + 6400 + 4900 + 4900)
    after = metrics.Sample(Metric.QA_SCORE, 5, 450.0, 8100 + 6400 + 10000 + 8100 + 8100)
    verdict, (difference, low, high) = metrics.compare(before, after, minimum=5)
    # Welch: se = sqrt(50/5 + 50/5) = sqrt(20); df = 8; t(0.975, 8) = 2.306004
    half = 2.306004135033371 * math.sqrt(20)
    assert (difference, low, high) == pytest.approx((20, 20 - half, 20 + half))
    assert verdict == metrics.IMPROVED
    # The same change with a lot of spread is no clear change.
    wide = metrics.Sample(Metric.QA_SCORE, 5, 450.0, 0**2 + 100**2 + 100**2 + 100**2 + 150**2)
    assert metrics.compare(before, wide, minimum=5)[0] == metrics.NO_CLEAR_CHANGE


def test_lower_handle_time_is_an_improvement():
    before = metrics.Sample(Metric.HANDLE_TIME, 5, 500.0, 50_500.0)  # mean 100, variance 125
    after = metrics.Sample(Metric.HANDLE_TIME, 5, 250.0, 13_000.0)  # mean 50, variance 125
    assert metrics.compare(before, after, minimum=5)[0] == metrics.IMPROVED
    assert metrics.compare(after, before, minimum=5)[0] == metrics.WORSE


def test_before_after_windows_have_the_same_length_cut_at_today(world):
    comparison = metrics.before_after(
        user=world.admin,
        agent_id=world.agent.pk,
        metric=Metric.HANDLE_TIME,
        pivot=date(2026, 11, 10),
        days=30,
        today=date(2026, 11, 14),
    )
    assert comparison.after_window == (date(2026, 11, 10), date(2026, 11, 14))
    assert comparison.before_window == (date(2026, 11, 5), date(2026, 11, 9))
    assert comparison.verdict == metrics.NOT_ENOUGH
