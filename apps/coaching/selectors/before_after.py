"""Before vs after, honestly: a session's linked criteria (and the QA score) over windows of the
same length around the session's date, and a goal's frozen baseline against its progress. Each
row carries both n and intervals and the verdict ``metrics.compare`` gives: "improved" or "got
worse" only when the interval of the difference lies on one side of zero; "not enough data yet"
below ``COACHING_MIN_N``. Rows are in the metric's unit (rates in percent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.utils import timezone

from apps.rubrics import selectors as rubrics

from ..choices import Metric
from ..models import CoachingSession, Goal
from . import goals as goal_selectors
from . import metrics

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

DEFAULT_DAYS = 30
VERDICT_WORDS = {
    metrics.IMPROVED: "improved",
    metrics.WORSE: "got worse",
    metrics.NO_CLEAR_CHANGE: "no clear change yet",
    metrics.NOT_ENOUGH: "not enough data yet",
}


@dataclass(frozen=True)
class Side:
    value: float | None
    n: int
    low: float | None
    high: float | None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Row:
    """One metric before and after, the change with its interval, and the verdict in words."""

    metric: str
    criterion_key: str
    label: str
    before: Side
    after: Side
    change: float | None
    change_low: float | None
    change_high: float | None
    verdict: str  # metrics' verdict: improved, worse, no_clear_change, no_data

    @property
    def words(self) -> str:
        return VERDICT_WORDS[self.verdict]

    def show(self, value: float | None) -> str:
        return goal_selectors.fmt(self.metric, value)

    @property
    def shown_change(self) -> str:
        if self.change is None:
            return "—"
        if self.metric == Metric.CRITERION_PASS:
            return f"{self.change:+.1f} pts"
        if self.metric == Metric.HANDLE_TIME:
            return f"{self.change:+.0f} s"
        if self.metric == Metric.SENTIMENT_DELTA:
            return f"{self.change:+.2f}"
        return f"{self.change:+.1f}"


def _side(sample: metrics.Sample, window: tuple[date, date] | None = None) -> Side:
    """One window's figure in the metric's unit (shown within the metric's range by
    ``goals.fmt``: a t interval of a score can reach past 100)."""
    estimate = sample.estimate
    factor = goal_selectors.scale(sample.metric)

    def scaled(v: float | None) -> float | None:
        return None if v is None else v * factor

    start, end = window or (None, None)
    return Side(
        scaled(estimate.value), estimate.n, scaled(estimate.low), scaled(estimate.high), start, end
    )


def _row(comparison: metrics.Comparison, label: str) -> Row:
    factor = goal_selectors.scale(comparison.metric)

    def scaled(v: float | None) -> float | None:
        return None if v is None else v * factor

    return Row(
        metric=comparison.metric,
        criterion_key=comparison.criterion_key,
        label=label,
        before=_side(comparison.before, comparison.before_window),
        after=_side(comparison.after, comparison.after_window),
        change=scaled(comparison.difference),
        change_low=scaled(comparison.low),
        change_high=scaled(comparison.high),
        verdict=comparison.verdict,
    )


def session_before_after(
    *, user: Person, session: CoachingSession, days: int = DEFAULT_DAYS, today: date | None = None
) -> list[Row]:
    """The QA score and each topic's pass rate, the ``days`` before the session's date against
    the ``days`` from it on (both cut to the same length while the "after" is still running).
    ``session`` must already be one ``user`` may see."""
    pivot = timezone.localtime(session.scheduled_at).date()
    today = today or timezone.localdate()
    names = rubrics.criterion_names(keys=session.topics)
    wanted = [(Metric.QA_SCORE, "", "QA score")] + [
        (Metric.CRITERION_PASS, key, f"Pass rate: {names[key].name if key in names else key}")
        for key in session.topics
    ]
    return [
        _row(
            metrics.before_after(
                user=user,
                agent_id=session.agent_id,
                metric=metric,
                criterion_key=key,
                pivot=pivot,
                days=days,
                today=today,
            ),
            label,
        )
        for metric, key, label in wanted
    ]


def goal_before_after(goal: Goal) -> Row:
    """A goal's frozen baseline against its stored progress (no rollups read again)."""
    baseline = goal_selectors.frozen_sample(
        goal.metric, goal.baseline, goal.baseline_n, goal.baseline_low, goal.baseline_high
    )
    progress = goal_selectors.frozen_sample(
        goal.metric, goal.progress, goal.progress_n, goal.progress_low, goal.progress_high
    )
    verdict, (difference, low, high) = metrics.compare(baseline, progress)
    factor = goal_selectors.scale(goal.metric)

    def scaled(v: float | None) -> float | None:
        return None if v is None else v * factor

    start, end = goal_selectors.progress_window(goal)
    return Row(
        metric=goal.metric,
        criterion_key=goal.criterion_key,
        label=goal_selectors.metric_label(goal),
        before=Side(
            goal.baseline,
            goal.baseline_n,
            goal.baseline_low,
            goal.baseline_high,
            *goal_selectors.baseline_window(goal),
        ),
        after=Side(
            goal.progress, goal.progress_n, goal.progress_low, goal.progress_high, start, end
        ),
        change=scaled(difference),
        change_low=scaled(low),
        change_high=scaled(high),
        verdict=verdict,
    )
