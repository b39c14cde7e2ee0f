"""The coach's home: the agents in the user's scope sorted by need, the sessions planned for
the next two weeks, and each team's coaching coverage over the last three months.

Need, most first, compares in this order: the weakest criterion with enough people's answers
(``COACHING_MIN_N``) over the last 30 days, by the upper bound of its 95% interval (the lowest
upper bound is the surest weakness; agents without enough data come after those with it); then
goals at risk; then overdue action items (open, due before today); then reviews submitted since
the agent's latest held session (or in the last 30 days when never coached). Every figure comes
from one query over all agents: a constant number of queries however many agents, sessions,
goals, action items and reviews there are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Max, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.scoping import can_use
from apps.insights import selectors as insights
from apps.insights.stats import Estimate, rate
from apps.qa import selectors as qa
from apps.qa.choices import ReviewStatus

from ..choices import GoalStatus, SessionStatus
from ..models import ActionItem, CoachingSession, Goal
from .scorecard import coachable_agents

if TYPE_CHECKING:
    from apps.accounts.models import Agent
    from apps.accounts.scoping import Person

NEED_DAYS = 30
UPCOMING_DAYS = 14
COVERAGE_MONTHS = 3
UPCOMING_LIMIT = 50
HELD = (SessionStatus.HELD, SessionStatus.CLOSED)


@dataclass(frozen=True)
class WeakCriterion:
    key: str
    name: str
    rate: Estimate


@dataclass
class AgentNeed:
    agent: Agent
    weakest: WeakCriterion | None = None
    goals_at_risk: int = 0
    overdue_actions: int = 0
    reviews_since: int = 0
    last_session: datetime | None = None

    @property
    def need_key(self) -> tuple:
        upper = (
            self.weakest.rate.high if self.weakest and self.weakest.rate.high is not None else None
        )
        return (
            upper is None,
            upper if upper is not None else 0.0,
            -self.goals_at_risk,
            -self.overdue_actions,
            -self.reviews_since,
            self.agent.display_name.lower(),
            self.agent.pk,
        )

    @property
    def calm(self) -> bool:
        """Nothing asks for attention (no weak criterion known, nothing at risk or overdue)."""
        return not (self.weakest or self.goals_at_risk or self.overdue_actions)


def _weakest(
    counts: dict[tuple[Any, str], tuple[int, ...]], names: dict[str, str]
) -> dict[int, WeakCriterion]:
    minimum = settings.COACHING_MIN_N
    found: dict[int, WeakCriterion] = {}
    for (agent_id, key), values in counts.items():
        if agent_id is None:
            continue
        met, not_met = values[3], values[4]  # people's answers
        if met + not_met < minimum:
            continue
        estimate = rate(met, met + not_met)
        current = found.get(agent_id)
        if current is None or (estimate.high or 0, estimate.value or 0, key) < (
            current.rate.high or 0,
            current.rate.value or 0,
            current.key,
        ):
            found[agent_id] = WeakCriterion(key, names.get(key, key), estimate)
    return found


def agents_by_need(*, user: Person, today: date | None = None) -> list[AgentNeed]:
    """Every active agent in ``user``'s scope with what asks for coaching, neediest first."""
    today = today or timezone.localdate()
    agents = list(coachable_agents(user=user).filter(is_active=True))
    if not agents:
        return []
    ids = [a.pk for a in agents]
    rows = {a.pk: AgentNeed(agent=a) for a in agents}

    period = insights.Period(today - timedelta(days=NEED_DAYS - 1), today)
    filters = insights.InsightFilters(period=period, compare=False, agent_ids=tuple(ids))
    counts = insights.criterion_counts(user=user, filters=filters)
    keys = {key for _, key in counts}
    names = (
        {row.key: row.name for row in insights.criteria(user=user, filters=filters, counts=counts)}
        if keys
        else {}
    )
    for agent_id, weak in _weakest(counts, names).items():
        if agent_id in rows:
            rows[agent_id].weakest = weak

    at_risk = (
        Goal.objects.for_user(user)
        .filter(agent_id__in=ids, status=GoalStatus.AT_RISK)
        .values("agent_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in at_risk:
        rows[row["agent_id"]].goals_at_risk = row["n"]
    overdue = (
        ActionItem.objects.for_user(user)
        .filter(agent_id__in=ids, done_at__isnull=True, due_on__lt=today)
        .values("agent_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in overdue:
        rows[row["agent_id"]].overdue_actions = row["n"]
    held = (
        CoachingSession.objects.for_user(user)
        .filter(agent_id__in=ids, status__in=HELD, held_at__isnull=False)
        .values("agent_id")
        .annotate(last=Max("held_at"))
        .order_by()
    )
    for row in held:
        rows[row["agent_id"]].last_session = row["last"]

    default_since = timezone.now() - timedelta(days=NEED_DAYS)
    since = {pk: row.last_session or default_since for pk, row in rows.items()}
    reviews = (
        qa.review_list(user=user, status=ReviewStatus.SUBMITTED)
        .filter(agent_id__in=ids, submitted_at__gt=min(since.values()))
        .values_list("agent_id", "submitted_at")
    )
    for agent_id, submitted_at in reviews:
        if agent_id in rows and submitted_at is not None and submitted_at > since[agent_id]:
            rows[agent_id].reviews_since += 1
    return sorted(rows.values(), key=lambda r: r.need_key)


def upcoming_sessions(*, user: Person, now: datetime | None = None) -> QuerySet[CoachingSession]:
    """Planned sessions from now through the next ``UPCOMING_DAYS`` days, soonest first."""
    now = now or timezone.now()
    return (
        CoachingSession.objects.for_user(user)
        .filter(
            status=SessionStatus.PLANNED,
            scheduled_at__gte=now,
            scheduled_at__lt=now + timedelta(days=UPCOMING_DAYS),
        )
        .select_related("agent", "agent__team", "coach")
        .order_by("scheduled_at", "id")[:UPCOMING_LIMIT]
    )


@dataclass(frozen=True)
class CoverageMonth:
    month: date
    sessions: int
    agents_coached: int
    agents: int

    @property
    def per_agent(self) -> float | None:
        return self.sessions / self.agents if self.agents else None

    @property
    def share_coached(self) -> float | None:
        return self.agents_coached / self.agents if self.agents else None


@dataclass
class TeamCoverage:
    team_id: int | None
    name: str
    agents: int
    months: list[CoverageMonth] = field(default_factory=list)


def coverage_months(today: date, count: int = COVERAGE_MONTHS) -> list[date]:
    """The first days of the last ``count`` months, this one included, oldest first."""
    months = [today.replace(day=1)]
    while len(months) < count:
        previous = months[-1] - timedelta(days=1)
        months.append(previous.replace(day=1))
    return list(reversed(months))


def can_see_coverage(user: Person) -> bool:
    return can_use(user, "coaching_coverage")


def team_coverage(*, user: Person, today: date | None = None) -> list[TeamCoverage]:
    """Per team in scope: held sessions per agent in each of the last three months (this month
    so far included) and how many of its agents were coached at least once. Agents are the
    team's active agents now. Two queries."""
    today = today or timezone.localdate()
    months = coverage_months(today)
    agents = list(coachable_agents(user=user).filter(is_active=True).values("pk", "team_id"))
    per_team: dict[int | None, int] = defaultdict(int)
    for row in agents:
        per_team[row["team_id"]] += 1
    if not per_team:
        return []
    first = timezone.make_aware(datetime.combine(months[0], datetime.min.time()))
    rows = (
        CoachingSession.objects.for_user(user)
        .filter(status__in=HELD, held_at__gte=first, agent__is_active=True)
        .annotate(month=TruncMonth("held_at"))
        .values("agent__team_id", "month")
        .annotate(sessions=Count("id"), coached=Count("agent_id", distinct=True))
        .order_by()
    )
    found: dict[tuple[int | None, date], tuple[int, int]] = {}
    for row in rows:
        month = row["month"]
        month = month.date() if isinstance(month, datetime) else month
        found[(row["agent__team_id"], month)] = (row["sessions"], row["coached"])
    names = accounts.team_names(ids=[t for t in per_team if t is not None])
    result = [
        TeamCoverage(
            team_id=team_id,
            name=names.get(team_id, "No team") if team_id is not None else "No team",
            agents=count,
            months=[
                CoverageMonth(month, *found.get((team_id, month), (0, 0)), agents=count)
                for month in months
            ],
        )
        for team_id, count in per_team.items()
    ]
    result.sort(key=lambda t: (t.team_id is None, t.name.lower()))
    return result
