"""Insights pages: the overview, tables by team / agent / queue / channel, criteria and the
heatmap, the AI agent, a trend for any figure, and the conversations behind any number.

Thin views over ``selectors``. Every page reads the same filters (``selectors.filters``); a
mistyped one is shown as an error above the page, which then shows the default period. Charts
are drawn by ``static/insights/insights.js`` (ECharts, vendored) from JSON embedded in the
page; every chart has its numbers in a table beside or below it, so nothing needs the script
or colour to be read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.accounts import selectors as accounts
from apps.accounts.decorators import page_for
from apps.common.errors import ValidationFailed
from apps.common.replica import replica_reads

from . import selectors, stats
from .choices import CriterionSource, LabelKind
from .selectors.filters import InsightFilters, filters_parse

TABS = (
    ("insights-overview", "Overview"),
    ("insights-teams", "Teams"),
    ("insights-agents", "Agents"),
    ("insights-queues", "Queues"),
    ("insights-criteria", "Criteria"),
    ("insights-ai", "AI agent"),
    ("insights-trends", "Trends"),
)
PRESETS = (("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "12 months"))


def _filters(request: HttpRequest) -> InsightFilters:
    try:
        return filters_parse(request.GET)
    except ValidationFailed as exc:
        for field, problems in exc.errors.items():
            for problem in problems:
                messages.error(request, f"{field}: {problem} Showing the last 30 days instead.")
        return filters_parse({})


def _drill(filters: InsightFilters, **predicates: Any) -> str:
    """The URL of the conversations behind a number (these filters plus ``predicates``)."""
    return reverse("insights-conversations") + "?" + filters.query(**predicates)


def _context(request: HttpRequest, filters: InsightFilters, tab: str, **extra: Any) -> dict:
    from datetime import timedelta

    end = filters.period.end
    presets = [
        (
            label,
            filters.query(**{"from": (end - timedelta(days=int(days) - 1)).isoformat()}),
            filters.period.days == int(days),
        )
        for days, label in PRESETS
    ]
    return {
        "tab": tab,
        "tabs": TABS,
        "filters": filters,
        "query": filters.query(),
        "presets": presets,
        "team_choices": accounts.team_choices(user=request.user),
        "agent_choices": accounts.agent_choices(user=request.user),
        **extra,
    }


def _chart(data: Any) -> str:
    return json.dumps(data, default=str)


# The AI agent's own page shows task success among the conversations the AI took part in.
# The AI agent page has its own figures (and the virtual agent's scoreboard).
OVERVIEW_KPIS = [
    kpi for kpi in selectors.KPIS if kpi.key != "ai_task_success" and not kpi.key.startswith("va_")
]


@require_GET
@page_for("insights")
@replica_reads
def overview(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    result = selectors.overview(user=request.user, filters=filters, kpis=OVERVIEW_KPIS)
    cards = []
    for value in result.values:
        kpi = value.kpi
        cards.append(
            {
                "value": value,
                "url": _drill(filters, **kpi.drill),
                "hits_url": _drill(filters, **kpi.hits) if kpi.hits else "",
                "trend_url": reverse("insights-trends") + "?" + filters.query(kpi=kpi.key),
                "spark": _chart(
                    {"type": "spark", "values": value.daily, "unit": kpi.unit, "label": kpi.label}
                ),
            }
        )
    found = selectors.labels(user=request.user, filters=filters)
    agents = selectors.breakdown(user=request.user, filters=filters, by="agent")
    return render(
        request,
        "insights/overview.html",
        _context(
            request,
            filters,
            "insights-overview",
            cards=cards,
            totals=result.totals,
            previous_totals=result.previous_totals,
            topics=_bars(filters, found[LabelKind.TOPIC], "topic"),
            outcomes=_bars(filters, found[LabelKind.OUTCOME], "outcome"),
            suggestion_versions=found[LabelKind.SUGGESTION],
            usefulness=_usefulness(filters, agents),
            disputes_url=_drill(filters, disputed="yes"),
            disputes_accepted_url=_drill(filters, disputed="accepted"),
            disputes_rejected_url=_drill(filters, disputed="rejected"),
            disputes_open_url=_drill(filters, disputed="open"),
        ),
    )


def _usefulness(filters: InsightFilters, agents: selectors.Table) -> list[dict[str, Any]]:
    """Per agent: suggestions shown, their closeness and how often followed; wrap-up edits."""
    rows = []
    for row in agents.rows:
        shown = int(row.sums.get("suggestions") or 0)
        wrapups = int(row.sums.get("wrapup_n") or 0)
        if not shown and not wrapups:
            continue
        rows.append(
            {
                "label": row.label,
                "suggestions": shown,
                "closeness": stats.mean(
                    shown, float(row.sums.get("suggestion_closeness_sum") or 0)
                ),
                "followed": stats.rate(int(row.sums.get("suggestions_followed") or 0), shown),
                "wrapup": stats.mean(wrapups, float(row.sums.get("wrapup_edit_sum") or 0)),
                "few": shown < settings.INSIGHTS_MIN_N,
                "url": _drill(filters.narrowed(**_agent_filter(row.key)), has="suggestions"),
            }
        )
    return rows


def _agent_filter(agent_id: Any) -> dict[str, Any]:
    return {"agent_ids": () if agent_id is None else (agent_id,), "ai_alone": agent_id is None}


def _bars(filters: InsightFilters, rows: Iterable[selectors.LabelRow], predicate: str) -> dict:
    items = [
        {
            "label": row.label or "(none)",
            "value": row.conversations,
            "previous": row.previous,
            "url": _drill(filters, **{predicate: row.label}),
        }
        for row in rows
    ]
    return {"rows": items, "chart": _chart({"type": "bars", "rows": items[:15]})}


@require_GET
@page_for("insights")
@replica_reads
def table(request: HttpRequest, by: str) -> HttpResponse:
    filters = _filters(request)
    sort = request.GET.get("sort", "")
    result = selectors.breakdown(user=request.user, filters=filters, by=by, sort=sort)
    return render(
        request,
        "insights/table.html",
        _context(
            request,
            filters,
            f"insights-{by}s",
            table=result,
            by=by,
            by_label=selectors.tables.DIMENSION_LABELS[by],
            sort=sort,
            csv_url=reverse(f"api-insights-{by}s-csv") + "?" + filters.query(),
            json_url=reverse(f"api-insights-{by}s") + "?" + filters.query(),
            rows=[(row, _drill(filters, **row.drill)) for row in result.rows],
            total_url=_drill(filters),
        ),
    )


@require_GET
@page_for("insights")
@replica_reads
def criteria(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    source = request.GET.get("source", CriterionSource.HUMAN)
    if source not in CriterionSource.values:
        source = CriterionSource.HUMAN
    counts = selectors.criterion_counts(user=request.user, filters=filters)
    rows = selectors.criteria(user=request.user, filters=filters, counts=counts)
    heat = selectors.heatmap(user=request.user, filters=filters, source=source, counts=counts)
    grid = [
        (
            agent,
            name,
            [
                (
                    key,
                    heat.cell(agent, key),
                    _drill(
                        filters.narrowed(**_agent_filter(agent)),
                        criterion=key,
                        source=source,
                        result="judged",
                    ),
                )
                for key, _ in heat.criteria
            ],
        )
        for agent, name in heat.agents
    ]
    return render(
        request,
        "insights/criteria.html",
        _context(
            request,
            filters,
            "insights-criteria",
            rows=[
                (
                    row,
                    _drill(filters, criterion=row.key, source="AI", result="judged"),
                    _drill(filters, criterion=row.key, source="HUMAN", result="judged"),
                )
                for row in rows
            ],
            heat=heat,
            grid=grid,
            source=source,
            sources=CriterionSource.choices,
            csv_url=reverse("api-insights-criteria-csv") + "?" + filters.query(),
        ),
    )


@require_GET
@page_for("insights")
@replica_reads
def ai_agent(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    keys = ("containment", "handoff_rate", "ai_first_word", "ai_task_success")
    result = selectors.overview(
        user=request.user, filters=filters, kpis=[selectors.KPI_BY_KEY[k] for k in keys]
    )
    found = selectors.labels(user=request.user, filters=filters)
    cards = _cards(filters, result.values)
    scoreboard = selectors.overview(
        user=request.user,
        filters=filters,
        kpis=[selectors.KPI_BY_KEY[k] for k in selectors.VA_KPI_KEYS],
    )
    latency = selectors.va_latency(user=request.user, filters=filters)
    va_reasons = selectors.va_reasons(user=request.user, filters=filters)
    return render(
        request,
        "insights/ai.html",
        _context(
            request,
            filters,
            "insights-ai",
            cards=cards,
            reasons=_bars(filters, found[LabelKind.HANDOFF], "reason"),
            va_calls=int(scoreboard.totals.get("va_conversations") or 0),
            va_calls_url=_drill(filters, has="va"),
            va_cards=_cards(filters, scoreboard.values),
            va_latency=[
                ("Time to first token", latency.first_token),
                ("Time to the first helpful word", latency.first_helpful),
            ],
            va_turns_url=_drill(filters, has="va_turns"),
            va_reasons=[(row, _drill(filters, va_reason=row.code)) for row in va_reasons],
            suggestion_versions=[
                (row, _drill(filters, suggestion=row.label)) for row in found[LabelKind.SUGGESTION]
            ],
        ),
    )


def _cards(filters: InsightFilters, values: Iterable[selectors.KpiValue]) -> list[dict]:
    return [
        {
            "value": value,
            "url": _drill(filters, **value.kpi.drill),
            "hits_url": _drill(filters, **value.kpi.hits) if value.kpi.hits else "",
            "trend_url": reverse("insights-trends") + "?" + filters.query(kpi=value.kpi.key),
            "spark": _chart({"type": "spark", "values": value.daily, "unit": value.kpi.unit}),
        }
        for value in values
    ]


@require_GET
@page_for("insights")
@replica_reads
def trends(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    key = request.GET.get("kpi", "qa_score")
    kpi = selectors.KPI_BY_KEY.get(key, selectors.KPI_BY_KEY["qa_score"])
    grain, points = selectors.series(user=request.user, filters=filters, kpi=kpi)
    rows = []
    for point in points:
        narrowed = filters.narrowed(period=selectors.Period(point.start, point.end))
        rows.append((point, _drill(narrowed, **kpi.drill)))
    chart = {
        "type": "series",
        "unit": kpi.unit,
        "label": kpi.label,
        "grain": grain,
        "points": [
            {
                "x": point.start.isoformat(),
                "value": point.value.value,
                "low": point.value.low,
                "high": point.value.high,
                "n": point.value.n,
                "few": kpi.kind != "count" and point.value.is_few(settings.INSIGHTS_MIN_N),
                "previous": point.previous.value if point.previous else None,
                "url": url,
            }
            for point, url in rows
        ],
    }
    return render(
        request,
        "insights/trends.html",
        _context(
            request,
            filters,
            "insights-trends",
            kpi=kpi,
            kpis=selectors.KPIS,
            grain=grain,
            rows=rows,
            chart=_chart(chart),
        ),
    )


@require_GET
@page_for("insights")
@replica_reads
def conversations(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    predicates = selectors.predicates_of(request.GET)
    try:
        facts = selectors.drilldown_facts(user=request.user, filters=filters, predicates=predicates)
        page = selectors.facts_page(facts, after=request.GET.get("after", ""))
    except ValidationFailed as exc:
        for field, problems in exc.errors.items():
            for problem in problems:
                messages.error(request, f"{field}: {problem}")
        predicates = {}
        facts = selectors.drilldown_facts(user=request.user, filters=filters, predicates={})
        page = selectors.facts_page(facts)
    keep = filters.narrowed(extra=predicates)
    return render(
        request,
        "insights/conversations.html",
        _context(
            request,
            keep,
            "insights-conversations",
            page=page,
            predicates=predicates,
            described=_describe(predicates),
            next_url=(
                reverse("insights-conversations") + "?" + keep.query(after=page.next_cursor)
                if page.next_cursor
                else ""
            ),
            first_url=reverse("insights-conversations") + "?" + keep.query()
            if request.GET.get("after")
            else "",
            csv_url=reverse("api-insights-facts-csv") + "?" + keep.query(),
        ),
    )


_WORDS = {
    "has": "with a {}",
    "mix": "handled by: {}",
    "contained": "contained: {}",
    "handoff": "handed off: {}",
    "critical": "critical failure: {}",
    "flagged": "flagged: {}",
    "success": "task success: {}",
    "disputed": "disputed: {}",
    "topic": "topic “{}”",
    "outcome": "outcome “{}”",
    "reason": "handoff reason “{}”",
    "suggestion": "suggestions by {}",
    "criterion": "criterion “{}”",
    "source": "judged by {}",
    "result": "result {}",
    "va_outcome": "virtual agent outcome: {}",
    "va_reason": "virtual agent handoff reason {}",
    "va_success": "virtual agent task success: {}",
}
# The virtual agent's ``has`` values in words (the others read well as they are).
_HAS_WORDS = {
    "va": "call with the virtual agent",
    "va_interruptions": "caller interruption of the virtual agent",
    "va_task": "virtual agent task success decided",
    "va_turns": "timed virtual agent turn",
}


_VALUES = {
    "mix": {"human": "a human agent only", "ai": "the AI agent only", "handoff": "AI, then a human",
            "none": "no agent", "ai_any": "the AI agent (alone or before a human)"},
    "source": {"AI": "the AI", "HUMAN": "QA reviewers"},
    "result": {"judged": "met or not met", "MET": "met", "NOT_MET": "not met", "NA": "N/A"},
    "contained": {"any": "decided"},
    "va_outcome": {"handed_off": "handed off", "in_progress": "in progress"},
}  # fmt: skip


def _describe(predicates: dict[str, str]) -> list[str]:
    """The drill-down's conditions in words, for the page's lead."""
    words = []
    for key, value in predicates.items():
        if key not in _WORDS:
            continue
        shown = _VALUES.get(key, {}).get(value, value)
        if key == "has":
            shown = _HAS_WORDS.get(value, value.replace("_", " ").lower())
        elif key == "criterion":
            shown = selectors.criterion_name(value)
        words.append(_WORDS[key].format(shown))
    return words


def csv_response(lines: Iterable[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
