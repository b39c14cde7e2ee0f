"""Goals: the status rule (pure), a goal's reading in words, lists and pages scoped to the user.

The status rule, applied in this order (``goal_status``):

1. **Met** once the progress value reaches the target (``>=``, or ``<=`` for handle time where
   lower is better) with at least ``COACHING_MIN_N`` values; it stays met (``met_at`` is set
   once and the goal met notification goes out once).
2. **Not enough data yet** while the progress window holds fewer than ``COACHING_MIN_N`` values.
3. **Missed** when ``due_on`` has passed and the target was not reached.
4. **At risk** when less than half the time from ``start_on`` to ``due_on`` is left and even the
   better bound of the progress interval does not reach the target; or when the change since the
   frozen baseline goes the wrong way and the interval of that change supports it
   (``metrics.compare`` says "worse").
5. **On track** otherwise.

Baselines and progress are stored in the metric's unit: points (0-100) for QA score and AI
adherence, percent (0-100) for a criterion's pass rate, -2..2 for the sentiment change, seconds
for handle time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.qa.stats import t_quantile
from apps.rubrics import selectors as rubrics
from apps.rubrics.choices import VersionStatus

from ..choices import LOWER_IS_BETTER, GoalStatus, Metric
from ..models import Goal
from . import metrics

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

UNITS = {
    Metric.QA_SCORE: "points",
    Metric.CRITERION_PASS: "%",
    Metric.AI_ADHERENCE: "points",
    Metric.SENTIMENT_DELTA: "",
    Metric.HANDLE_TIME: "s",
}
# The range a target may take, in the metric's unit.
TARGET_RANGES = {
    Metric.QA_SCORE: (0.0, 100.0),
    Metric.CRITERION_PASS: (0.0, 100.0),
    Metric.AI_ADHERENCE: (0.0, 100.0),
    Metric.SENTIMENT_DELTA: (-2.0, 2.0),
    Metric.HANDLE_TIME: (1.0, 86_400.0),
}
SORTS = {
    "due": ["due_on", "id"],
    "-due": ["-due_on", "-id"],
    "agent": ["agent__display_name", "due_on", "id"],
    "status": ["status_rank", "due_on", "id"],
    "new": ["-created_at", "-id"],
}
_STATUS_RANK = [
    GoalStatus.AT_RISK,
    GoalStatus.NOT_ENOUGH_DATA,
    GoalStatus.ON_TRACK,
    GoalStatus.MISSED,
    GoalStatus.MET,
]


def scale(metric: str) -> float:
    """Rates are stored as fractions by insights and shown (and targeted) in percent."""
    return 100.0 if metric == Metric.CRITERION_PASS else 1.0


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def reaches(metric: str, value: float | None, target: float) -> bool:
    if value is None:
        return False
    return value <= target if lower_is_better(metric) else value >= target


def frozen_sample(metric: str, value: float | None, n: int, low: float | None, high: float | None):
    """The ``metrics.Sample`` behind a stored figure (value, n, 95% interval), so a frozen
    baseline can be compared with progress without reading the rollups again: a rate's
    successes are value * n; a mean's sum of squares follows from its Student's t interval."""
    if value is None or n <= 0:
        return metrics.Sample(metric, 0)
    if metric == Metric.CRITERION_PASS:
        return metrics.Sample(metric, n, float(round(value / 100.0 * n)))
    total = value * n
    if n < 2 or low is None or high is None:
        return metrics.Sample(metric, n, total, total * total / n)
    half = (high - low) / 2
    variance = (half / t_quantile(0.975, n - 1)) ** 2 * n
    return metrics.Sample(metric, n, total, variance * (n - 1) + total * total / n)


@dataclass(frozen=True)
class Reading:
    """A goal's status and the reason for it, in words."""

    status: str
    why: str
    trend: str = ""  # metrics.compare's verdict on progress vs the frozen baseline


# Where a metric's values can lie: a t interval knows no bounds (a mean score of 91.7 from four
# calls has an upper bound of 118.2), the page should.
VALUE_RANGES = {
    Metric.QA_SCORE: (0.0, 100.0),
    Metric.CRITERION_PASS: (0.0, 100.0),
    Metric.AI_ADHERENCE: (0.0, 100.0),
    Metric.SENTIMENT_DELTA: (-2.0, 2.0),
    Metric.HANDLE_TIME: (0.0, math.inf),
}


def bounded(metric: str, value: float | None) -> float | None:
    """``value`` (a figure or an interval bound, in the metric's unit) cut to its range."""
    if value is None or metric not in VALUE_RANGES:
        return value
    low, high = VALUE_RANGES[Metric(metric)]
    return min(high, max(low, value))


def fmt(metric: str, value: float | None) -> str:
    value = bounded(metric, value)
    if value is None:
        return "—"
    unit = UNITS.get(Metric(metric), "") if metric in Metric.values else ""
    if metric == Metric.SENTIMENT_DELTA:
        return f"{value:+.2f}"
    if metric == Metric.HANDLE_TIME:
        return f"{value:.0f} s"
    return f"{value:.1f}{'%' if unit == '%' else ''}"


def goal_status(goal: Goal, *, today: date | None = None, minimum: int | None = None) -> Reading:
    """The status the stored figures of ``goal`` support today (the rule in the module's
    docstring). Pure: reads only the goal's fields."""
    today = today or timezone.localdate()
    least = settings.COACHING_MIN_N if minimum is None else minimum
    metric, target = goal.metric, goal.target
    shown = fmt(metric, goal.progress)
    if goal.met_at is not None:
        return Reading(GoalStatus.MET, f"Target {fmt(metric, target)} reached on "
                       f"{timezone.localtime(goal.met_at):%-d %b %Y}.")  # fmt: skip
    if goal.progress_n >= least and reaches(metric, goal.progress, target):
        return Reading(
            GoalStatus.MET,
            f"Progress {shown} (n = {goal.progress_n}) reaches the target {fmt(metric, target)}.",
        )
    if goal.progress_n < least:
        return Reading(
            GoalStatus.NOT_ENOUGH_DATA,
            f"{goal.progress_n} value{'s' if goal.progress_n != 1 else ''} since "
            f"{goal.start_on:%-d %b}: at least {least} are needed before saying anything.",
        )
    if today > goal.due_on:
        return Reading(
            GoalStatus.MISSED,
            f"Due {goal.due_on:%-d %b %Y}: progress {shown} did not reach {fmt(metric, target)}.",
        )
    baseline = frozen_sample(
        metric, goal.baseline, goal.baseline_n, goal.baseline_low, goal.baseline_high
    )
    progress = frozen_sample(
        metric, goal.progress, goal.progress_n, goal.progress_low, goal.progress_high
    )
    trend, _ = metrics.compare(baseline, progress, minimum=least)
    better_bound = goal.progress_low if lower_is_better(metric) else goal.progress_high
    total = (goal.due_on - goal.start_on).days
    left = (goal.due_on - today).days
    little_time = total <= 0 or left / total < 0.5
    if little_time and better_bound is not None and not reaches(metric, better_bound, target):
        return Reading(
            GoalStatus.AT_RISK,
            f"{left} day{'s' if left != 1 else ''} left of {total}, and even the interval's "
            f"better end ({fmt(metric, better_bound)}) is short of {fmt(metric, target)}.",
            trend,
        )
    if trend == metrics.WORSE:
        return Reading(
            GoalStatus.AT_RISK,
            f"Worse than the baseline ({fmt(metric, goal.baseline)} → {shown}), and the "
            "interval of the change supports it.",
            trend,
        )
    return Reading(
        GoalStatus.ON_TRACK,
        f"Progress {shown} (n = {goal.progress_n}) toward {fmt(metric, target)}; "
        f"{max(left, 0)} days left.",
        trend,
    )


def progress_window(goal: Goal, *, today: date | None = None) -> tuple[date, date]:
    """From ``start_on`` to today, or to ``due_on`` once past (an empty window before start)."""
    today = today or timezone.localdate()
    return goal.start_on, min(today, goal.due_on)


def baseline_window(goal: Goal) -> tuple[date, date]:
    return goal.start_on - timedelta(days=goal.baseline_days), goal.start_on - timedelta(days=1)


def published_criteria() -> dict[str, str]:
    """``{criterion key: name}`` of every published rubric version (what a goal may target)."""
    found: dict[str, str] = {}
    for version in rubrics.versions_in_use():
        if version.status != VersionStatus.PUBLISHED:
            continue
        for criterion in rubrics.frozen_structure(version=version).criteria:
            found.setdefault(criterion.key, criterion.name)
    return found


def goal_list(
    *, user: Person, agent_id: int | None = None, status: str = "", sort: str = "due"
) -> QuerySet[Goal]:
    """The goals ``user`` may see (agents: their own), with their agent (one query a page)."""
    goals = Goal.objects.for_user(user).select_related("agent", "agent__team", "session")
    if agent_id is not None:
        goals = goals.filter(agent_id=agent_id)
    if status in GoalStatus.values:
        goals = goals.filter(status=status)
    goals = goals.annotate(
        status_rank=Case(
            *[When(status=s, then=Value(i)) for i, s in enumerate(_STATUS_RANK)],
            default=Value(9),
            output_field=IntegerField(),
        )
    )
    return goals.order_by(*SORTS.get(sort, SORTS["due"]))  # type: ignore[return-value]


def goal_get(*, user: Person, pk: int) -> Goal | None:
    return (
        Goal.objects.for_user(user)
        .select_related("agent", "agent__team", "session", "created_by")
        .filter(pk=pk)
        .first()
    )


def agent_choices(*, user: Person) -> Any:
    """Agents whose goals ``user`` may read (the filter's choices)."""
    return accounts.agent_choices(user=user)


@dataclass(frozen=True)
class WeekPoint:
    start: date
    end: date
    value: float | None
    n: int
    low: float | None
    high: float | None


def weekly_progress(goal: Goal, *, today: date | None = None, most: int = 26) -> list[WeekPoint]:
    """The progress metric per week from ``start_on`` (the last ``most`` weeks at most), each
    with its n and interval, in the metric's unit: the goal page's chart."""
    start, end = progress_window(goal, today=today)
    points: list[WeekPoint] = []
    if end < start:
        return points
    weeks = math.ceil(((end - start).days + 1) / 7)
    first = max(0, weeks - most)
    factor = scale(goal.metric)
    for week in range(first, weeks):
        lo = start + timedelta(days=7 * week)
        hi = min(lo + timedelta(days=6), end)
        estimate = metrics.metric_sample(
            user=metrics.GOAL_READER,
            agent_id=goal.agent_id,
            metric=goal.metric,
            criterion_key=goal.criterion_key,
            start=lo,
            end=hi,
        ).estimate
        points.append(
            WeekPoint(
                lo,
                hi,
                None if estimate.value is None else estimate.value * factor,
                estimate.n,
                None if estimate.low is None else estimate.low * factor,
                None if estimate.high is None else estimate.high * factor,
            )
        )
    return points


def metric_label(goal: Goal, names: dict[str, str] | None = None) -> str:
    if goal.metric == Metric.CRITERION_PASS:
        name = (names or {}).get(goal.criterion_key) or goal.criterion_key
        return f"Pass rate: {name}"
    return goal.get_metric_display()
