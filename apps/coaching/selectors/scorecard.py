"""An agent's scorecard: their figures over a window (30 or 90 days) with n and 95% intervals,
weekly trends of the QA score and the AI's adherence score, criterion pass rates (people's and
the AI's beside them), the strongest and weakest criteria with enough data, recent reviews, open
action items and goals.

Everything is read from the insights rollups (the same figures the insights pages and
``metrics.samples`` give) and the QA selectors, scoped to who is asking: the scorecard of an
agent outside the user's scope is a 404. A constant number of queries, however many weeks,
criteria, reviews, action items or goals there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.scoping import Reach, can_use, scope_for
from apps.common.errors import NotFound, ValidationFailed
from apps.insights import selectors as insights
from apps.insights.stats import Estimate
from apps.qa import selectors as qa
from apps.qa.choices import ReviewStatus

from ..choices import Metric
from ..models import ActionItem, Goal
from .metrics import MEAN_KPIS

if TYPE_CHECKING:
    from apps.accounts.models import Agent
    from apps.accounts.scoping import Person

WINDOWS = (30, 90)
DEFAULT_WINDOW = 30
TREND_METRICS = (Metric.QA_SCORE, Metric.AI_ADHERENCE)
RECENT_REVIEWS = 10
EXTREMES = 3  # how many strongest and weakest criteria
SESSION_NEW = "/coaching/sessions/new/"  # the session planning page (``views/sessions.py``)


def coach_on_this_url(*, agent_id: int, criterion: str = "", origin: str) -> str:
    """Where "Coach on this" goes: the session planning page, prefilled with the agent and the
    criterion, and where it was started from (``scorecard``, ``heatmap``)."""
    params: dict[str, Any] = {"agent": agent_id}
    if criterion:
        params["criterion"] = criterion
    params["from"] = origin
    return f"{SESSION_NEW}?{urlencode(params)}"


def window_parse(value: Any) -> int:
    """The window in days from a query parameter: 30 (the default) or 90; anything else is a
    ``ValidationFailed`` naming the choices."""
    if value in (None, ""):
        return DEFAULT_WINDOW
    text = str(value).strip()
    if text.isascii() and text.isdigit() and int(text) in WINDOWS:
        return int(text)
    choices = " or ".join(str(w) for w in WINDOWS)
    raise ValidationFailed({"days": [f"“{text[:20]}” is not a window; choose {choices} days."]})


def coachable_agents(*, user: Person) -> QuerySet[Agent]:
    """The agents whose coaching ``user`` may see: everyone (admins, QA), their teams' agents
    (coaches, supervisors), themselves (agents); nobody for anyone else."""
    agents = accounts.agent_choices(user=user)
    return agents if can_use(user, "coaching") else agents.none()


def agent_get(*, user: Person, agent_id: int) -> Agent:
    agent = coachable_agents(user=user).filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent, or not one whose coaching you may see.")
    return agent


def own_agent(*, user: Person) -> Agent | None:
    """The agent an agent's login speaks as (for ``/coaching/`` to open their scorecard)."""
    scope = scope_for(user)
    if scope.reach is not Reach.OWN:
        return None
    return coachable_agents(user=user).first()


@dataclass(frozen=True)
class TrendPoint:
    start: date
    end: date
    value: Estimate


@dataclass(frozen=True)
class Trend:
    metric: str
    label: str
    unit: str
    points: list[TrendPoint]


@dataclass(frozen=True)
class CriterionFigure:
    key: str
    name: str
    kind: str
    human: Estimate  # people's pass rate: met / (met + not met)
    ai: Estimate  # the AI's, beside it

    @property
    def enough(self) -> bool:
        return self.human.n >= settings.COACHING_MIN_N


@dataclass(frozen=True)
class Scorecard:
    agent: Agent
    days: int
    start: date
    end: date
    figures: dict[str, Estimate]  # metric -> the window's figure
    trends: list[Trend]
    criteria: list[CriterionFigure]
    strongest: list[CriterionFigure]
    weakest: list[CriterionFigure]
    reviews: list[Any]
    actions: list[ActionItem]
    goals: list[Goal]
    minimum: int

    @property
    def has_criteria_with_enough(self) -> bool:
        return any(c.enough for c in self.criteria)


def weeks(start: date, end: date) -> list[tuple[date, date]]:
    """Weeks ending on ``end``, counted back to ``start`` (the first may be shorter), oldest
    first: a 30-day window is 2 days and 4 weeks; 90 days, 6 days and 12 weeks."""
    spans = []
    last = end
    while last >= start:
        first = max(start, last - timedelta(days=6))
        spans.append((first, last))
        last = first - timedelta(days=1)
    return list(reversed(spans))


def _summed(days: dict[date, dict[str, Any]], first: date, last: date, columns: list[str]) -> dict:
    totals = dict.fromkeys(columns, 0.0)
    for day, row in days.items():
        if first <= day <= last:
            for column in columns:
                totals[column] += row.get(column) or 0
    return totals


def rank_extremes(
    criteria: list[CriterionFigure], count: int = EXTREMES
) -> tuple[list[CriterionFigure], list[CriterionFigure]]:
    """The strongest (highest lower bound first) and weakest (lowest upper bound first)
    criteria among those with at least ``COACHING_MIN_N`` people's answers; a criterion is in
    one list only (the weakest win when there are few); the weakest were failed at least once,
    the strongest passed at least once."""
    eligible = [c for c in criteria if c.enough and c.human.low is not None]
    # A criterion never failed is nobody's weakness, one never passed nobody's strength.
    weakest = sorted(
        (c for c in eligible if (c.human.value or 0) < 1),
        key=lambda c: (c.human.high, c.human.value, c.key),
    )[:count]
    taken = {c.key for c in weakest}
    strongest = sorted(
        (c for c in eligible if c.key not in taken and (c.human.value or 0) > 0),
        key=lambda c: (-(c.human.low or 0), -(c.human.value or 0), c.key),
    )[:count]
    return strongest, weakest


def scorecard(
    *, user: Person, agent_id: int, days: int = DEFAULT_WINDOW, today: date | None = None
) -> Scorecard:
    """The agent's scorecard over the ``days`` up to ``today`` (inclusive)."""
    if days not in WINDOWS:
        window_parse(days)
    agent = agent_get(user=user, agent_id=agent_id)
    end = today or timezone.localdate()
    start = end - timedelta(days=days - 1)
    period = insights.Period(start, end)
    filters = insights.InsightFilters(period=period, compare=False, agent_ids=(agent.pk,))

    kpis = {metric: insights.KPI_BY_KEY[key] for metric, key in MEAN_KPIS.items()}
    columns: list[str] = []
    for kpi in kpis.values():
        columns += [c for c in (kpi.num, kpi.den, kpi.sq) if c and c not in columns]
    daily = insights.daily_sums(user=user, filters=filters, periods=[period], columns=columns)
    totals = _summed(daily, start, end, columns)
    figures = {str(metric): insights.kpi_estimate(kpi, totals) for metric, kpi in kpis.items()}
    trends = [
        Trend(
            metric=metric,
            label=Metric(metric).label,
            unit=kpis[metric].unit,
            points=[
                TrendPoint(
                    first,
                    last,
                    insights.kpi_estimate(kpis[metric], _summed(daily, first, last, columns)),
                )
                for first, last in weeks(start, end)
            ],
        )
        for metric in TREND_METRICS
    ]

    counts = insights.criterion_counts(user=user, filters=filters)
    rows = insights.criteria(user=user, filters=filters, counts=counts)
    criteria = [
        CriterionFigure(row.key, row.name, row.kind, row.human_rate, row.ai_rate) for row in rows
    ]
    strongest, weakest = rank_extremes(criteria)

    reviews = (
        qa.my_reviews(user=user)
        if scope_for(user).reach is Reach.OWN
        else qa.review_list(user=user, status=ReviewStatus.SUBMITTED)
    )
    recent = list(
        qa.review_rows(
            ids=reviews.filter(agent_id=agent.pk).values("pk")[:RECENT_REVIEWS]
        ).order_by(*reviews.query.order_by)
    )
    actions = list(
        ActionItem.objects.for_user(user)
        .filter(agent_id=agent.pk, done_at__isnull=True)
        .select_related("owner", "session")
    )
    goals = list(Goal.objects.for_user(user).filter(agent_id=agent.pk).order_by("due_on", "id"))
    return Scorecard(
        agent=agent,
        days=days,
        start=start,
        end=end,
        figures=figures,
        trends=trends,
        criteria=criteria,
        strongest=strongest,
        weakest=weakest,
        reviews=recent,
        actions=actions,
        goals=goals,
        minimum=settings.COACHING_MIN_N,
    )
