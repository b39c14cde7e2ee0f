"""The key figures: what each one is (from which rollup sums), and their values for a period,
the period before it and each day, read from the rollups in one query.

Every figure is a count, a mean (a sum over a count) or a rate (a count over a count), so it can
be summed over any set of buckets and derived once, at the end: never an average of averages.
Means carry a normal 95% interval (from the sum of squares), rates Wilson's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Sum

from .. import stats
from ..models import Rollup
from .filters import InsightFilters, Period, filters_q, scope_q

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

COUNT, MEAN, RATE = "count", "mean", "rate"


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    kind: str
    num: str  # the rollup column: summed (count), the values' sum (mean), the hits (rate)
    den: str = ""  # the values' count (mean) or the trials (rate)
    sq: str = ""  # the sum of squares (mean)
    unit: str = ""  # seconds, score, share, delta, count
    better: str = "up"  # which way is good: up, down, or "" (neither)
    drill: dict[str, str] = field(default_factory=dict)  # the conversations behind n
    hits: dict[str, str] = field(default_factory=dict)  # the conversations behind k (rates)
    help: str = ""


KPIS: tuple[Kpi, ...] = (
    Kpi("conversations", "Conversations", COUNT, "conversations", unit="count", better="",
        help="Conversations that started in the period."),
    Kpi("handle", "Average handle time", MEAN, "handle_sum", "handle_n", "handle_sq",
        unit="seconds", better="down", drill={"has": "handle"},
        help="From start to end of closed conversations."),
    Kpi("first_response", "First response", MEAN, "first_response_sum", "first_response_n",
        "first_response_sq", unit="seconds", better="down", drill={"has": "first_response"},
        help="From when the customer began waiting for a person to the human agent's first "
        "words (after a handoff: from the AI's last words)."),
    Kpi("qa_score", "QA score", MEAN, "qa_sum", "qa_n", "qa_sq", unit="score",
        drill={"has": "qa_score"}, help="The current revision of each reviewed conversation's "
        "latest review."),
    Kpi("adherence", "AI adherence score", MEAN, "adherence_sum", "adherence_n", "adherence_sq",
        unit="score", drill={"has": "adherence"},
        help="The script adherence operator's score of each conversation."),
    Kpi("sentiment_delta", "Customer sentiment change", MEAN, "sentiment_delta_sum",
        "sentiment_n", "sentiment_delta_sq", unit="delta", drill={"has": "sentiment"},
        help="Customer sentiment over the last 30 s minus the first 30 s (-2 to 2)."),
    Kpi("containment", "Containment", RATE, "contained", "ai_closed", unit="share",
        drill={"contained": "any"}, hits={"contained": "yes"},
        help="Closed conversations an AI agent answered alone, without a handoff."),
    Kpi("handoff_rate", "Handoff rate", RATE, "handoffs", "ai_handled", unit="share",
        better="down", drill={"mix": "ai_any"}, hits={"handoff": "yes"},
        help="Conversations an AI agent took part in that went to a person."),
    Kpi("task_success", "Task success", RATE, "task_success", "outcome_n", unit="share",
        drill={"has": "outcome"}, hits={"success": "yes"},
        help="Conversations whose outcome counts as resolved."),
    Kpi("ai_task_success", "Task success with the AI", RATE, "ai_task_success", "ai_outcome_n",
        unit="share", drill={"has": "outcome", "mix": "ai_any"},
        hits={"success": "yes", "mix": "ai_any"},
        help="Conversations an AI agent took part in whose outcome counts as resolved."),
    Kpi("flags", "Flags", COUNT, "flags", unit="count", better="down", drill={"flagged": "yes"},
        help="Flags rules raised on the period's conversations."),
    Kpi("critical_failed", "Critical failures", RATE, "critical_failed", "qa_n", unit="share",
        better="down", drill={"has": "qa_score"}, hits={"critical": "yes"},
        help="Reviewed conversations that failed a critical criterion."),
    Kpi("disputes", "Disputes", COUNT, "disputes", unit="count", better="down",
        drill={"disputed": "yes"}, help="Disputes agents opened on reviews of the period's "
        "conversations."),
    Kpi("ai_first_word", "AI time to first word", MEAN, "ai_first_word_sum", "ai_first_word_n",
        unit="seconds", better="down", drill={"has": "ai_first_word"},
        help="From the end of the customer's first turn to the AI agent's answer."),
    Kpi("suggestion_closeness", "Suggestion closeness", MEAN, "suggestion_closeness_sum",
        "suggestions", unit="share", drill={"has": "suggestions"},
        help="How much of each suggested reply the agent's next words used."),
    Kpi("suggestions_followed", "Suggestions followed", RATE, "suggestions_followed",
        "suggestions", unit="share", drill={"has": "suggestions"},
        help="Suggestions whose words the agent mostly used (at least half)."),
    # The reference virtual agent's scoreboard (its sessions and turns; docs/virtual-agent.md).
    Kpi("va_conversations", "Calls with the virtual agent", COUNT, "va_conversations",
        unit="count", better="", drill={"has": "va"},
        help="Conversations whose calls the reference virtual agent answered."),
    Kpi("va_containment", "Virtual agent containment", RATE, "va_contained", "va_closed",
        unit="share", drill={"has": "va", "contained": "any"},
        hits={"has": "va", "contained": "yes"},
        help="Closed calls with the virtual agent that it answered alone, without a handoff; "
        "abandoned calls are left out."),
    Kpi("va_abandoned", "Abandoned before a question", COUNT, "va_abandoned", unit="count",
        better="down", drill={"va_outcome": "abandoned"},
        help="The caller hung up before saying anything the virtual agent could answer; left "
        "out of containment."),
    Kpi("va_recovery", "Interruptions recovered", RATE, "va_recovered", "va_interruptions",
        unit="share", drill={"has": "va_interruptions"},
        help="Caller interruptions after which the virtual agent stopped and answered the "
        "caller's next turn."),
    Kpi("va_task_success", "Virtual agent task success", RATE, "va_task_success", "va_task_n",
        unit="share", drill={"has": "va_task"}, hits={"va_success": "yes"},
        help="Contained, an answer cited a knowledge article, and the caller ended with thanks "
        "or goodbye; any handoff is not a success. Abandoned calls count neither way."),
)  # fmt: skip
KPI_BY_KEY = {kpi.key: kpi for kpi in KPIS}
# The extra sums the overview shows beside the cards (dispute outcomes, flagged calls).
EXTRA_SUMS = (
    "flagged",
    "disputes_open",
    "disputes_accepted",
    "disputes_rejected",
    "reviews",
    "closed",
    "wrapup_n",
    "wrapup_edit_sum",
)


def kpi_columns(kpis: Iterable[Kpi] = KPIS) -> list[str]:
    columns: list[str] = []
    for kpi in kpis:
        for column in (kpi.num, kpi.den, kpi.sq):
            if column and column not in columns:
                columns.append(column)
    return columns


SUM_COLUMNS = [*kpi_columns(), *(c for c in EXTRA_SUMS if c not in kpi_columns())]


def kpi_estimate(kpi: Kpi, sums: Mapping[str, Any]) -> stats.Estimate:
    """The figure from summed rollup columns."""
    if kpi.kind == COUNT:
        value = int(sums.get(kpi.num) or 0)
        return stats.Estimate(value, value)
    if kpi.kind == RATE:
        return stats.rate(int(sums.get(kpi.num) or 0), int(sums.get(kpi.den) or 0))
    return stats.mean(
        int(sums.get(kpi.den) or 0),
        float(sums.get(kpi.num) or 0),
        float(sums[kpi.sq]) if kpi.sq and sums.get(kpi.sq) is not None else None,
    )


@dataclass(frozen=True)
class KpiValue:
    kpi: Kpi
    current: stats.Estimate
    previous: stats.Estimate | None
    daily: list[float | None]  # one value per day of the period (None: no data that day)
    hits: int = 0  # a rate's k

    @property
    def change(self) -> float | None:
        if self.previous is None or self.current.value is None or self.previous.value is None:
            return None
        return self.current.value - self.previous.value

    @property
    def few(self) -> bool:
        return self.kpi.kind != COUNT and self.current.n < settings.INSIGHTS_MIN_N

    @property
    def direction(self) -> str:
        """good, bad or flat: whether the change went the way that is better."""
        change = self.change
        if change is None or abs(change) < 1e-9 or not self.kpi.better:
            return "flat"
        return "good" if (change > 0) == (self.kpi.better == "up") else "bad"


@dataclass(frozen=True)
class Overview:
    filters: InsightFilters
    values: list[KpiValue]
    totals: dict[str, float]  # the current period's sums (extra figures)
    previous_totals: dict[str, float]

    def value(self, key: str) -> KpiValue:
        return next(v for v in self.values if v.kpi.key == key)


def daily_sums(
    *, user: Person, filters: InsightFilters, periods: Iterable[Period], columns: list[str]
) -> dict[date, dict[str, Any]]:
    """``{day: {column: sum}}`` over the user's rollups in these periods (one query)."""
    chosen = list(periods)
    condition = filters_q(filters, period=chosen[0])
    for period in chosen[1:]:
        condition |= filters_q(filters, period=period)
    rows = (
        Rollup.objects.filter(scope_q(user))
        .filter(condition)
        .values("day")
        .annotate(**{column: Sum(column) for column in columns})
        .order_by("day")
    )
    return {row["day"]: dict(row) for row in rows}


def _total(days: Mapping[date, Mapping[str, Any]], period: Period, columns: list[str]) -> dict:
    totals = dict.fromkeys(columns, 0.0)
    for day in period.dates():
        row = days.get(day)
        if row:
            for column in columns:
                totals[column] += row[column] or 0
    return totals


def overview(*, user: Person, filters: InsightFilters, kpis: Iterable[Kpi] = KPIS) -> Overview:
    """Every figure for the period, beside the previous period's, with a value per day."""
    wanted = list(kpis)
    previous = filters.period.previous()
    periods = [filters.period, previous] if filters.compare else [filters.period]
    days = daily_sums(user=user, filters=filters, periods=periods, columns=SUM_COLUMNS)
    current_totals = _total(days, filters.period, SUM_COLUMNS)
    previous_totals = _total(days, previous, SUM_COLUMNS) if filters.compare else {}
    values = []
    for kpi in wanted:
        daily = []
        for day in filters.period.dates():
            row = days.get(day)
            if row:
                daily.append(kpi_estimate(kpi, row).value)
            else:  # a day without conversations: none counted, no mean or rate
                daily.append(0 if kpi.kind == COUNT else None)
        values.append(
            KpiValue(
                kpi=kpi,
                current=kpi_estimate(kpi, current_totals),
                previous=kpi_estimate(kpi, previous_totals) if filters.compare else None,
                daily=daily,
                hits=int(current_totals.get(kpi.num) or 0) if kpi.kind == RATE else 0,
            )
        )
    return Overview(filters, values, current_totals, previous_totals)
