"""What a dashboard, export or API call is about: a period (and the one before it), the
optional team, agent, queue and channel filters, and the user's scope.

Dates are days in the portal's time zone (``TIME_ZONE``): the day a conversation started. Every
page, CSV and API answer reads the same parameters: ``from``, ``to`` (YYYY-MM-DD, inclusive),
``team``, ``agent`` (an id, or ``ai`` for conversations no human agent took), ``queue``,
``channel`` (each may repeat) and ``compare`` (``1``: show the previous period beside it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.db.models import Q
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.scoping import Reach, scope_for
from apps.common.errors import ValidationFailed

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

DEFAULT_DAYS = 30
MAX_DAYS = 731
AI_AGENT = "ai"


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.strftime("%-d %b %Y")
        return f"{self.start.strftime('%-d %b')} to {self.end.strftime('%-d %b %Y')}"


@dataclass(frozen=True)
class InsightFilters:
    period: Period
    compare: bool = True
    team_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    ai_alone: bool = False  # agent=ai: conversations no human agent took
    queues: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # drill-down predicates, kept in links

    def params(self, **overrides: Any) -> dict[str, Any]:
        """The query parameters that reproduce these filters (``overrides`` replace some)."""
        values: dict[str, Any] = {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "compare": "1" if self.compare else "0",
        }
        if self.team_ids:
            values["team"] = list(self.team_ids)
        agents: list[Any] = list(self.agent_ids) + ([AI_AGENT] if self.ai_alone else [])
        if agents:
            values["agent"] = agents
        if self.queues:
            values["queue"] = list(self.queues)
        if self.channels:
            values["channel"] = list(self.channels)
        values.update(self.extra)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return values

    def query(self, **overrides: Any) -> str:
        return urlencode(self.params(**overrides), doseq=True)

    def narrowed(self, **changes: Any) -> InsightFilters:
        return replace(self, **changes)

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.team_ids or self.agent_ids or self.ai_alone or self.queues or self.channels
        )


def _date(value: str, name: str, errors: dict[str, list[str]]) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = [f"“{value[:40]}” is not a date; use YYYY-MM-DD, e.g. 2026-12-01."]
        return None


def _ids(values: list[str], name: str, errors: dict[str, list[str]]) -> tuple[int, ...]:
    found = []
    for value in values:
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) < 12:
            found.append(int(digits))
        elif value.strip():
            errors[name] = [f"“{value[:40]}” is not a {name} id."]
    return tuple(sorted(set(found)))


def text(value: Any) -> str:
    """A parameter as text PostgreSQL can hold (no NUL characters)."""
    return str(value).replace("\x00", "")


def _getlist(data: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(data, "getlist", None)
    if getlist is not None:
        values = list(getlist(name))
    else:
        value = data.get(name)
        values = (
            [] if value is None else list(value) if isinstance(value, list | tuple) else [value]
        )
    return [text(v) for v in values if text(v).strip()]


def filters_parse(data: Mapping[str, Any], *, today: date | None = None) -> InsightFilters:
    """Read the filters from query parameters; raises ``ValidationFailed`` with every problem
    (field by field) for anything a user could have mistyped."""
    errors: dict[str, list[str]] = {}
    today = today or timezone.localdate()
    end = _date(text(data.get("to")), "to", errors) if data.get("to") else today
    start = (
        _date(text(data.get("from")), "from", errors)
        if data.get("from")
        else (end or today) - timedelta(days=DEFAULT_DAYS - 1)
    )
    if start and end:
        if start > end:
            errors["from"] = ["The period starts after it ends."]
        elif (end - start).days + 1 > MAX_DAYS:
            errors["from"] = [f"Choose at most {MAX_DAYS} days."]
    agents = _getlist(data, "agent")
    ai_alone = any(a.strip().lower() == AI_AGENT for a in agents)
    agent_ids = _ids([a for a in agents if a.strip().lower() != AI_AGENT], "agent", errors)
    team_ids = _ids(_getlist(data, "team"), "team", errors)
    compare = str(data.get("compare", "1")).strip().lower() not in ("0", "false", "no", "off")
    if errors:
        raise ValidationFailed(errors)
    assert start is not None and end is not None
    return InsightFilters(
        period=Period(start, end),
        compare=compare,
        team_ids=team_ids,
        agent_ids=agent_ids,
        ai_alone=ai_alone,
        queues=tuple(q[:120] for q in _getlist(data, "queue")),
        channels=tuple(c.upper()[:20] for c in _getlist(data, "channel")),
    )


def scope_q(user: Person) -> Q:
    """Which facts and rollup rows ``user`` may see (both have ``team_id`` and ``agent_id``):
    everything, their teams', or their own (agents); nothing for anyone else."""
    scope = scope_for(user)
    if scope.reach is Reach.EVERYTHING:
        return Q()
    if scope.reach is Reach.TEAMS:
        return Q(team_id__in=sorted(scope.team_ids))
    if scope.reach is Reach.OWN and scope.user_id is not None:
        return Q(agent_id__in=accounts.agent_ids_of_user(user_id=scope.user_id))
    return Q(pk__in=[])


def filters_q(filters: InsightFilters, *, period: Period | None = None) -> Q:
    """The filters as a condition on facts or rollup rows (``day`` in the period)."""
    chosen = period or filters.period
    q = Q(day__gte=chosen.start, day__lte=chosen.end)
    if filters.team_ids:
        q &= Q(team_id__in=filters.team_ids)
    if filters.agent_ids or filters.ai_alone:
        who = Q(agent_id__in=filters.agent_ids) if filters.agent_ids else Q(pk__in=[])
        if filters.ai_alone:
            who |= Q(agent_id__isnull=True)
        q &= who
    if filters.queues:
        q &= Q(queue__in=filters.queues)
    if filters.channels:
        q &= Q(channel__in=filters.channels)
    return q
