"""Tables and charts from the rollups: figures by team, agent, queue or channel; criteria for
the AI and for reviewers; the agent x criterion heatmap; topics, outcomes, handoff reasons and
suggestion operators; a time series for any figure. Each reads a constant number of queries,
however many rows it returns."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import BooleanField, Case, Sum, Value, When

from apps.accounts import selectors as accounts
from apps.rubrics import selectors as rubrics

from .. import stats
from ..choices import CriterionSource, LabelKind
from ..models import CriterionRollup, LabelRollup, Rollup
from .filters import AI_AGENT, InsightFilters, Period, filters_q, scope_q
from .kpis import KPI_BY_KEY, SUM_COLUMNS, Kpi, kpi_estimate

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

DIMENSIONS = {"team": "team_id", "agent": "agent_id", "queue": "queue", "channel": "channel"}
DIMENSION_LABELS = {"team": "Team", "agent": "Agent", "queue": "Queue", "channel": "Channel"}
TABLE_KPIS = (
    "conversations",
    "handle",
    "first_response",
    "sentiment_delta",
    "adherence",
    "qa_score",
    "critical_failed",
    "flags",
    "handoff_rate",
    "containment",
    "task_success",
    "suggestion_closeness",
)
NO_AGENT = "AI agent alone"
NO_TEAM = "No team"


@dataclass
class TableRow:
    key: Any  # team / agent id (None: no team / no human agent), queue or channel name
    label: str
    drill: dict[str, Any]  # filter parameters that select exactly this row's conversations
    sums: dict[str, float]
    previous_sums: dict[str, float] | None
    detail: str = ""  # an agent's team

    def estimate(self, kpi: Kpi) -> stats.Estimate:
        return kpi_estimate(kpi, self.sums)

    def previous(self, kpi: Kpi) -> stats.Estimate | None:
        return None if self.previous_sums is None else kpi_estimate(kpi, self.previous_sums)

    @property
    def few(self) -> bool:
        return (self.sums.get("conversations") or 0) < settings.INSIGHTS_MIN_N


@dataclass
class Table:
    by: str
    kpis: list[Kpi]
    rows: list[TableRow]
    total: TableRow


def _sums(user: Person, filters: InsightFilters, period: Period, by: str) -> dict[Any, dict]:
    column = DIMENSIONS[by]
    rows = (
        Rollup.objects.filter(scope_q(user))
        .filter(filters_q(filters, period=period))
        .values(column)
        .annotate(**{c: Sum(c) for c in SUM_COLUMNS})
        .order_by()
    )
    return {row.pop(column): row for row in rows}


def _drill_value(by: str, key: Any) -> Any:
    if by == "agent" and key is None:
        return AI_AGENT
    return key


def breakdown(*, user: Person, filters: InsightFilters, by: str, sort: str = "") -> Table:
    """The figures of ``TABLE_KPIS`` per team, agent, queue or channel (two queries for the
    sums, one for the names), each row with the previous period's beside it."""
    current = _sums(user, filters, filters.period, by)
    previous = _sums(user, filters, filters.period.previous(), by) if filters.compare else {}
    labels: dict[Any, tuple[str, str]] = {}
    if by == "team":
        names = accounts.team_names(ids=[k for k in current if k is not None])
        labels = {k: (names.get(k, f"Team {k}"), "") for k in current if k is not None}
        labels[None] = (NO_TEAM, "")
    elif by == "agent":
        agents = accounts.agent_names(ids=[k for k in current if k is not None])
        teams = accounts.team_names(ids={t for _, t in agents.values() if t})
        labels = {
            k: (name, teams.get(team_id, "") if team_id else "")
            for k, (name, team_id) in agents.items()
        }
        labels[None] = (NO_AGENT, "conversations no human agent took")
    rows = [
        TableRow(
            key=key,
            label=labels.get(key, (str(key) if key not in ("", None) else "(none)", ""))[0],
            detail=labels.get(key, ("", ""))[1],
            drill={by: _drill_value(by, key)} if by in ("team", "agent") else {by: key},
            sums=sums,
            previous_sums=previous.get(key) if filters.compare else None,
        )
        for key, sums in current.items()
    ]
    kpis = [KPI_BY_KEY[k] for k in TABLE_KPIS]
    key_kpi = KPI_BY_KEY.get(sort.lstrip("-")) if sort else None
    if key_kpi is not None:
        descending = sort.startswith("-")

        def order(row: TableRow) -> tuple[bool, float]:
            value = row.estimate(key_kpi).value
            if value is None:
                return (True, 0.0)
            return (False, -value if descending else value)

        rows.sort(key=order)
    else:
        rows.sort(key=lambda r: (-(r.sums.get("conversations") or 0), r.label.lower()))
    total = TableRow(
        key="total",
        label="All",
        drill={},
        sums=_add(current.values()),
        previous_sums=_add(previous.values()) if filters.compare else None,
    )
    return Table(by=by, kpis=kpis, rows=rows, total=total)


def _add(rows: Any) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        for column, value in row.items():
            totals[column] += value or 0
    return dict(totals)


@dataclass(frozen=True)
class CriterionRow:
    key: str
    name: str
    kind: str
    ai: tuple[int, int, int]  # met, not met, N/A
    human: tuple[int, int, int]

    @staticmethod
    def pass_rate(counts: tuple[int, int, int]) -> stats.Estimate:
        met, not_met, _ = counts
        return stats.rate(met, met + not_met)

    @property
    def ai_rate(self) -> stats.Estimate:
        return self.pass_rate(self.ai)

    @property
    def human_rate(self) -> stats.Estimate:
        return self.pass_rate(self.human)

    @property
    def gap(self) -> float | None:
        """How much more often the AI passes it than reviewers do."""
        ai, human = self.ai_rate.value, self.human_rate.value
        return None if ai is None or human is None else ai - human


_CRITERION_COLUMNS = ("ai_met", "ai_not_met", "ai_na", "human_met", "human_not_met", "human_na")
CriterionCounts = dict[tuple[Any, str], tuple[int, ...]]  # (agent, criterion) -> the six columns


def criterion_counts(*, user: Person, filters: InsightFilters) -> CriterionCounts:
    """Met / not met / N/A of the AI and of reviewers per agent and criterion: one pass over the
    criterion rollups that both the criteria table and the heatmap are summed from."""
    rows = (
        CriterionRollup.objects.filter(scope_q(user))
        .filter(filters_q(filters))
        .values_list("agent_id", "criterion_key")
        .annotate(*[Sum(column) for column in _CRITERION_COLUMNS])
        .order_by()
    )
    return {(row[0], row[1]): tuple(int(v or 0) for v in row[2:]) for row in rows}


def criteria(
    *, user: Person, filters: InsightFilters, counts: CriterionCounts | None = None
) -> list[CriterionRow]:
    """Pass rates per criterion, the AI's beside reviewers', in the rubric's order."""
    if counts is None:
        counts = criterion_counts(user=user, filters=filters)
    totals: dict[str, list[int]] = {}
    for (_, key), values in counts.items():
        summed = totals.setdefault(key, [0] * len(_CRITERION_COLUMNS))
        for i, value in enumerate(values):
            summed[i] += value
    names = rubrics.criterion_names(keys=totals)
    result = [
        CriterionRow(
            key=key,
            name=names[key].name if key in names else key,
            kind=names[key].kind if key in names else "",
            ai=(n[0], n[1], n[2]),
            human=(n[3], n[4], n[5]),
        )
        for key, n in totals.items()
    ]
    result.sort(key=lambda r: (names[r.key].order if r.key in names else (9999, 0), r.key))
    return result


def criterion_name(key: str) -> str:
    """A criterion's name in the rubric (its key when no rubric has it)."""
    names = rubrics.criterion_names(keys=[key])
    return names[key].name if key in names else key


@dataclass(frozen=True)
class HeatCell:
    met: int
    not_met: int

    @property
    def estimate(self) -> stats.Estimate:
        return stats.rate(self.met, self.met + self.not_met)

    @property
    def n(self) -> int:
        return self.met + self.not_met

    @property
    def few(self) -> bool:
        return self.n < settings.INSIGHTS_MIN_N


@dataclass
class Heatmap:
    source: str
    agents: list[tuple[Any, str]]  # (agent id or None, name)
    criteria: list[tuple[str, str]]  # (key, name)
    cells: dict[tuple[Any, str], HeatCell] = field(default_factory=dict)

    def cell(self, agent: Any, key: str) -> HeatCell | None:
        return self.cells.get((agent, key))


def heatmap(
    *,
    user: Person,
    filters: InsightFilters,
    source: str,
    counts: CriterionCounts | None = None,
) -> Heatmap:
    """Pass rate per agent and criterion (met / (met + not met)); N/A is left out."""
    if counts is None:
        counts = criterion_counts(user=user, filters=filters)
    first = 0 if source == CriterionSource.AI else 3  # met, not met of that source
    cells = {
        bucket: HeatCell(values[first], values[first + 1])
        for bucket, values in counts.items()
        if values[first] + values[first + 1]
    }
    agent_ids = {agent for agent, _ in cells}
    keys = {key for _, key in cells}
    names = accounts.agent_names(ids=[a for a in agent_ids if a is not None])
    agents = sorted(
        ((a, names[a][0] if a in names else NO_AGENT if a is None else f"Agent {a}") for a in
         agent_ids),
        key=lambda item: (item[0] is None, item[1].lower()),
    )  # fmt: skip
    criterion = rubrics.criterion_names(keys=keys)
    ordered = sorted(keys, key=lambda k: (criterion[k].order if k in criterion else (9999, 0), k))
    return Heatmap(
        source=source,
        agents=agents,
        criteria=[(k, criterion[k].name if k in criterion else k) for k in ordered],
        cells=cells,
    )


@dataclass(frozen=True)
class LabelRow:
    label: str
    conversations: int
    previous: int | None
    value_n: int = 0
    value_sum: float = 0.0
    value_hits: int = 0

    @property
    def closeness(self) -> stats.Estimate:
        return stats.mean(self.value_n, self.value_sum)

    @property
    def followed(self) -> stats.Estimate:
        return stats.rate(self.value_hits, self.value_n)


def labels(*, user: Person, filters: InsightFilters) -> dict[str, list[LabelRow]]:
    """Topics, outcomes, handoff reasons and suggestion operators, most frequent first, with
    the previous period's count (one query)."""
    previous = filters.period.previous()
    condition = filters_q(filters)
    if filters.compare:
        condition |= filters_q(filters, period=previous)
    rows = (
        LabelRollup.objects.filter(scope_q(user))
        .filter(condition)
        .annotate(
            current=Case(
                When(day__gte=filters.period.start, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .values("kind", "label", "current")
        .annotate(
            n=Sum("conversations"), vn=Sum("value_n"), vs=Sum("value_sum"), vh=Sum("value_hits")
        )
        .order_by()
    )
    found: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0])
    for row in rows:
        entry = found[(row["kind"], row["label"])]
        if row["current"]:
            entry[0] += row["n"]
            entry[2] += row["vn"]
            entry[3] += row["vs"]
            entry[4] += row["vh"]
        else:
            entry[1] += row["n"]
    result: dict[str, list[LabelRow]] = {kind: [] for kind in LabelKind.values}
    for (kind, label), (n, before, vn, vs, vh) in found.items():
        if not n and not before:
            continue
        result[kind].append(
            LabelRow(label, int(n), int(before) if filters.compare else None, int(vn), vs, int(vh))
        )
    for rows_of_kind in result.values():
        rows_of_kind.sort(key=lambda r: (-r.conversations, r.label.lower()))
    return result


@dataclass(frozen=True)
class SeriesPoint:
    start: date
    end: date
    value: stats.Estimate
    previous: stats.Estimate | None


def series(*, user: Person, filters: InsightFilters, kpi: Kpi) -> tuple[str, list[SeriesPoint]]:
    """The figure per day (per week beyond 92 days), the previous period's aligned beside it."""
    from .kpis import daily_sums

    previous = filters.period.previous()
    periods = [filters.period, previous] if filters.compare else [filters.period]
    columns = [c for c in (kpi.num, kpi.den, kpi.sq) if c]
    days = daily_sums(user=user, filters=filters, periods=periods, columns=columns)
    step = 7 if filters.period.days > 92 else 1
    points = []
    for offset in range(0, filters.period.days, step):
        start = filters.period.start + timedelta(days=offset)
        end = min(start + timedelta(days=step - 1), filters.period.end)
        width = (end - start).days + 1
        current = _window(days, start, width, columns)
        before = _window(days, previous.start + timedelta(days=offset), width, columns)
        points.append(
            SeriesPoint(
                start,
                end,
                kpi_estimate(kpi, current),
                kpi_estimate(kpi, before) if filters.compare else None,
            )
        )
    return ("week" if step == 7 else "day"), points


def _window(days: dict, start: date, width: int, columns: list[str]) -> dict[str, float]:
    totals = dict.fromkeys(columns, 0.0)
    for i in range(width):
        row = days.get(start + timedelta(days=i))
        if row:
            for column in columns:
                totals[column] += row[column] or 0
    return totals
