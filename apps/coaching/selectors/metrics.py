"""An agent's figures over a window of days, from the insights rollups, each with its n and 95%
interval; and before/after comparisons that say only what their intervals support.

The metrics (``choices.Metric``): QA score (people's reviews), a criterion's pass rate (people's
answers: met / (met + not met)), AI adherence (the script adherence operator's score), customer
sentiment change, and handle time (lower is better). Windows are whole days in the portal's time
zone, inclusive, as insights counts them. ``user`` scopes the rollups (coaching selectors check
first that the user may see the agent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.utils import timezone

from apps.insights import selectors as insights
from apps.insights.stats import Estimate
from apps.qa import stats

from ..choices import LOWER_IS_BETTER, Metric

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

# The insights KPI behind each metric that is a mean.
MEAN_KPIS = {
    Metric.QA_SCORE: "qa_score",
    Metric.AI_ADHERENCE: "adherence",
    Metric.SENTIMENT_DELTA: "sentiment_delta",
    Metric.HANDLE_TIME: "handle",
}
IMPROVED, WORSE, NO_CLEAR_CHANGE, NOT_ENOUGH = "improved", "worse", "no_clear_change", "no_data"


@dataclass(frozen=True)
class Sample:
    """What a metric's figure is made of: (n, sum, sum of squares) for a mean, (k, n) for a
    rate, so that two windows can be compared honestly."""

    metric: str
    n: int
    total: float = 0.0  # a mean's sum, a rate's successes
    squares: float | None = None

    @property
    def is_rate(self) -> bool:
        return self.metric == Metric.CRITERION_PASS

    @property
    def estimate(self) -> Estimate:
        if self.is_rate:
            from apps.insights.stats import rate

            return rate(int(self.total), self.n)
        from apps.insights.stats import mean

        return mean(self.n, self.total, self.squares)


def _period(start: date, end: date) -> insights.Period:
    return insights.Period(start, end)


def samples(
    *, user: Person, agent_id: int, start: date, end: date, criterion_keys: tuple[str, ...] = ()
) -> dict[tuple[str, str], Sample]:
    """Every metric of one agent over [start, end]: ``{(metric, criterion key or ""): Sample}``
    (two queries: the daily rollups and the criterion rollups)."""
    period = _period(start, end)
    filters = insights.InsightFilters(period=period, compare=False, agent_ids=(agent_id,))
    columns: list[str] = []
    for key in MEAN_KPIS.values():
        kpi = insights.KPI_BY_KEY[key]
        columns += [c for c in (kpi.num, kpi.den, kpi.sq) if c and c not in columns]
    days = insights.daily_sums(user=user, filters=filters, periods=[period], columns=columns)
    totals = dict.fromkeys(columns, 0.0)
    for row in days.values():
        for column in columns:
            totals[column] += row.get(column) or 0
    found: dict[tuple[str, str], Sample] = {}
    for metric, key in MEAN_KPIS.items():
        kpi = insights.KPI_BY_KEY[key]
        found[(metric, "")] = Sample(
            metric,
            int(totals[kpi.den]),
            float(totals[kpi.num]),
            float(totals[kpi.sq]) if kpi.sq else None,
        )
    counts = insights.criterion_counts(user=user, filters=filters)
    wanted = set(criterion_keys)
    for (_, key), values in counts.items():
        if wanted and key not in wanted:
            continue
        met, not_met = values[3], values[4]  # people's answers (the AI's are values[0:3])
        before = found.get((Metric.CRITERION_PASS, key))
        k = met + (int(before.total) if before else 0)
        n = met + not_met + (before.n if before else 0)
        found[(Metric.CRITERION_PASS, key)] = Sample(Metric.CRITERION_PASS, n, float(k))
    for key in wanted:
        found.setdefault((Metric.CRITERION_PASS, key), Sample(Metric.CRITERION_PASS, 0))
    return found


def metric_sample(
    *, user: Person, agent_id: int, metric: str, criterion_key: str = "", start: date, end: date
) -> Sample:
    keys = (criterion_key,) if metric == Metric.CRITERION_PASS else ()
    found = samples(user=user, agent_id=agent_id, start=start, end=end, criterion_keys=keys)
    key = criterion_key if metric == Metric.CRITERION_PASS else ""
    return found.get((metric, key), Sample(metric, 0))


@dataclass(frozen=True)
class Comparison:
    """A metric before and after a date over windows of the same length, the difference with
    its 95% interval, and the verdict the interval supports."""

    metric: str
    criterion_key: str
    before: Sample
    after: Sample
    before_window: tuple[date, date]
    after_window: tuple[date, date]
    difference: float | None
    low: float | None
    high: float | None
    verdict: str  # improved, worse, no_clear_change, no_data

    @property
    def enough(self) -> bool:
        return self.verdict != NOT_ENOUGH


def compare(before: Sample, after: Sample, *, minimum: int | None = None) -> tuple[str, tuple]:
    """The verdict on after vs before: "no_data" while either side has fewer than ``minimum``
    values (``COACHING_MIN_N``); "improved" or "worse" only when the whole 95% interval of the
    difference lies on one side of zero (which side is better depends on the metric);
    otherwise "no_clear_change"."""
    least = settings.COACHING_MIN_N if minimum is None else minimum
    if before.n < least or after.n < least:
        return NOT_ENOUGH, (None, None, None)
    if before.is_rate:
        figures = stats.rate_difference_interval(
            (int(before.total), before.n), (int(after.total), after.n)
        )
    else:
        figures = stats.mean_difference_interval(
            (before.n, before.total, before.squares or 0.0),
            (after.n, after.total, after.squares or 0.0),
        )
    difference, low, high = (None if math.isnan(v) else v for v in figures)
    if low is None or high is None:
        return NOT_ENOUGH, (difference, None, None)
    better_up = before.metric not in LOWER_IS_BETTER
    if low > 0:
        verdict = IMPROVED if better_up else WORSE
    elif high < 0:
        verdict = WORSE if better_up else IMPROVED
    else:
        verdict = NO_CLEAR_CHANGE
    return verdict, (difference, low, high)


def before_after(
    *,
    user: Person,
    agent_id: int,
    metric: str,
    criterion_key: str = "",
    pivot: date,
    days: int,
    today: date | None = None,
) -> Comparison:
    """The ``days`` before ``pivot`` (a session's date) against the ``days`` from it on (cut at
    ``today``: then the "before" window is cut to the same length, so both are as long)."""
    # The portal's day (settings.TIME_ZONE), as insights counts days: not the server clock's.
    last = today or timezone.localdate()
    after_end = min(pivot + timedelta(days=days - 1), last)
    length = max(0, (after_end - pivot).days + 1)
    after_window = (pivot, after_end)
    before_window = (pivot - timedelta(days=max(length, 1)), pivot - timedelta(days=1))
    if length == 0:
        empty = Sample(metric, 0)
        return Comparison(
            metric, criterion_key, empty, empty, before_window, after_window, None, None, None,
            NOT_ENOUGH,
        )  # fmt: skip
    before = metric_sample(
        user=user, agent_id=agent_id, metric=metric, criterion_key=criterion_key,
        start=before_window[0], end=before_window[1],
    )  # fmt: skip
    after = metric_sample(
        user=user, agent_id=agent_id, metric=metric, criterion_key=criterion_key,
        start=after_window[0], end=after_window[1],
    )  # fmt: skip
    verdict, (difference, low, high) = compare(before, after)
    return Comparison(
        metric, criterion_key, before, after, before_window, after_window, difference, low, high,
        verdict,
    )  # fmt: skip


class _GoalReader:
    """Who reads the rollups behind a goal's frozen baseline and its recomputed progress: a
    goal's figures must not depend on who set it or who opens it, and the periodic recompute has
    no user. Access to the goal itself is checked before (``Goal.objects.for_user``)."""

    is_authenticated = True
    is_active = True
    is_superuser = True
    role = "ADMIN"
    pk = None


GOAL_READER = cast("Person", _GoalReader())
