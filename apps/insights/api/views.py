"""API of insights under /api/insights/: the same figures as the pages, as JSON, and as CSV.

Every endpoint reads the pages' filters (``from``, ``to``, ``team``, ``agent``, ``queue``,
``channel``, ``compare``) and the caller's scope: supervisors and coaches get their teams'
figures, agents their own, QA analysts and admins everything. A mistyped filter is a 400 with
the problem by field. ``GET /api/insights/agents.csv?from=&to=`` has fixed columns
(``selectors.AGENT_COLUMNS``) because spreadsheets are built on it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.common.replica import replica_reads
from ccportal.viewsets import ErrorSerializer

from .. import selectors, stats
from ..choices import CriterionSource
from ..selectors.filters import InsightFilters, filters_parse
from ..views import csv_response

FILTERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 29 days ago)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive (default today)"),
    OpenApiParameter("team", OpenApiTypes.INT, many=True, description="Team ids"),
    OpenApiParameter("agent", OpenApiTypes.STR, many=True, description="Agent ids, or `ai`"),
    OpenApiParameter("queue", OpenApiTypes.STR, many=True),
    OpenApiParameter("channel", OpenApiTypes.STR, many=True, description="VOICE, SMS..."),
    OpenApiParameter("compare", OpenApiTypes.BOOL, description="With the previous period"),
]
PREDICATES = [
    OpenApiParameter(name, OpenApiTypes.STR, description="See the drill-down predicates")
    for name in selectors.drilldown.PREDICATES
]
_INVALID = OpenApiResponse(ErrorSerializer, description="A filter is not valid (by field).")
_CSV = OpenApiResponse(OpenApiTypes.STR, description="CSV, one header row")
TABLES = {"teams": "team", "agents": "agent", "queues": "queue", "channels": "channel"}


class CanReadInsights(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "insights")


class InsightsView(APIView):
    permission_classes = [IsAuthenticated, CanReadInsights]

    @method_decorator(replica_reads)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Aggregates and exports: the read replica when one is configured (docs/scaling.md).
        return super().dispatch(request, *args, **kwargs)

    def filters(self, request: Request) -> InsightFilters:
        return filters_parse(request.query_params)


def _estimate(value: stats.Estimate | None, kind: str = "mean") -> dict[str, Any] | None:
    """A figure as JSON: its value, n and 95% interval (Student's t for a mean, Wilson's for a
    rate); a mean also has its ``half_width`` (the "± 5.1" pages show) and every mean or rate
    says whether it rests on ``few`` values (n < ``INSIGHTS_MIN_N``)."""
    if value is None:
        return None
    result: dict[str, Any] = {"value": value.value, "n": value.n, "low": value.low,
                              "high": value.high}  # fmt: skip
    if kind == "mean":
        result["half_width"] = value.half_width
    if kind != "count":
        result["few"] = value.is_few(settings.INSIGHTS_MIN_N)
    return result


def _filters_json(filters: InsightFilters) -> dict[str, Any]:
    return {
        "from": filters.period.start,
        "to": filters.period.end,
        "previous_from": filters.period.previous().start if filters.compare else None,
        "previous_to": filters.period.previous().end if filters.compare else None,
    }


class OverviewView(InsightsView):
    @extend_schema(
        summary="Key figures for a period, beside the previous one, with a value per day",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(request)
        result = selectors.overview(user=request.user, filters=filters)
        return Response(
            {
                **_filters_json(filters),
                "figures": [
                    {
                        "key": v.kpi.key,
                        "label": v.kpi.label,
                        "kind": v.kpi.kind,
                        "unit": v.kpi.unit,
                        "current": _estimate(v.current, v.kpi.kind),
                        "previous": _estimate(v.previous, v.kpi.kind),
                        "few": v.few,
                        "daily": v.daily,
                    }
                    for v in result.values
                ],
            }
        )


def _table_json(table: selectors.Table) -> list[dict[str, Any]]:
    return [
        {
            "key": row.key,
            "label": row.label,
            "detail": row.detail,
            "few": row.few,
            "figures": {kpi.key: _estimate(row.estimate(kpi), kpi.kind) for kpi in table.kpis},
            "previous": (
                {kpi.key: _estimate(row.previous(kpi), kpi.kind) for kpi in table.kpis}
                if row.previous_sums is not None
                else None
            ),
        }
        for row in table.rows
    ]


class TableView(InsightsView):
    @extend_schema(
        summary="Figures by team, agent, queue or channel",
        parameters=[*FILTERS, OpenApiParameter("sort", OpenApiTypes.STR)],
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID, 404: ErrorSerializer},
    )
    def get(self, request: Request, table: str) -> Response:
        if table not in TABLES:
            raise NotFound("No such table: use teams, agents, queues or channels.")
        filters = self.filters(request)
        result = selectors.breakdown(
            user=request.user,
            filters=filters,
            by=TABLES[table],
            sort=str(request.query_params.get("sort", "")),
        )
        return Response({**_filters_json(filters), "rows": _table_json(result)})


class TableCsvView(InsightsView):
    @extend_schema(
        summary="Figures by team, agent, queue or channel, as CSV",
        description="`agents.csv` has the columns agent, team, conversations, "
        "handle_seconds_avg, first_response_seconds_avg, customer_sentiment_delta_avg, "
        "ai_adherence_score_avg, qa_score_avg, reviews, critical_failed, flags, handoffs, "
        "then containment_rate, task_success_rate, suggestion_closeness_avg, then the QA "
        "score's n and 95% interval (qa_score_n, qa_score_low, qa_score_high: Student's t) and "
        "the critical failure rate with its n and Wilson interval (critical_failed_rate, "
        "critical_failed_rate_low, critical_failed_rate_high). Dates are the "
        "conversation's start in the portal's time zone; an empty cell means no data.",
        parameters=FILTERS,
        responses={(200, "text/csv"): _CSV, 400: _INVALID, 404: ErrorSerializer},
    )
    def get(self, request: Request, table: str) -> StreamingHttpResponse:
        if table not in TABLES:
            raise NotFound("No such table: use teams, agents, queues or channels.")
        filters = self.filters(request).narrowed(compare=False)
        by = TABLES[table]
        result = selectors.breakdown(user=request.user, filters=filters, by=by)
        name = f"{table}-{filters.period.start}-{filters.period.end}.csv"
        return csv_response(selectors.csv_lines(selectors.table_rows(result, first=by)), name)


class CriteriaView(InsightsView):
    @extend_schema(
        summary="Pass rates per criterion, for the AI and for QA reviewers",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(request)
        rows = selectors.criteria(user=request.user, filters=filters)
        return Response(
            {
                **_filters_json(filters),
                "rows": [
                    {
                        "key": row.key,
                        "name": row.name,
                        "kind": row.kind,
                        "ai": dict(zip(("met", "not_met", "na"), row.ai, strict=True)),
                        "human": dict(zip(("met", "not_met", "na"), row.human, strict=True)),
                        "ai_pass_rate": _estimate(row.ai_rate, "rate"),
                        "human_pass_rate": _estimate(row.human_rate, "rate"),
                    }
                    for row in rows
                ],
            }
        )


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


class CriteriaCsvView(InsightsView):
    @extend_schema(
        summary="Pass rates per criterion, as CSV",
        parameters=FILTERS,
        responses={(200, "text/csv"): _CSV, 400: _INVALID},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters = self.filters(request)
        rows = selectors.criteria(user=request.user, filters=filters)

        def lines() -> Any:
            yield ["criterion", "name", "kind", "ai_met", "ai_not_met", "ai_na",
                   "ai_pass_rate", "qa_met", "qa_not_met", "qa_na", "qa_pass_rate",
                   # After the first ones: each rate's n and 95% interval (Wilson).
                   "ai_n", "ai_pass_rate_low", "ai_pass_rate_high",
                   "qa_n", "qa_pass_rate_low", "qa_pass_rate_high"]  # fmt: skip
            for row in rows:
                ai, human = row.ai_rate, row.human_rate
                yield [
                    row.key, row.name, row.kind, *map(str, row.ai), _share(ai.value),
                    *map(str, row.human), _share(human.value),
                    str(ai.n), _share(ai.low), _share(ai.high),
                    str(human.n), _share(human.low), _share(human.high),
                ]  # fmt: skip

        name = f"criteria-{filters.period.start}-{filters.period.end}.csv"
        return csv_response(selectors.csv_lines(lines()), name)


class HeatmapView(InsightsView):
    @extend_schema(
        summary="Pass rate per agent and criterion",
        parameters=[*FILTERS, OpenApiParameter("source", OpenApiTypes.STR, enum=["AI", "HUMAN"])],
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(request)
        source = str(request.query_params.get("source", CriterionSource.HUMAN)).upper()
        if source not in CriterionSource.values:
            source = CriterionSource.HUMAN
        heat = selectors.heatmap(user=request.user, filters=filters, source=source)
        return Response(
            {
                **_filters_json(filters),
                "source": source,
                "agents": [{"id": a, "name": n} for a, n in heat.agents],
                "criteria": [{"key": k, "name": n} for k, n in heat.criteria],
                "cells": [
                    {
                        "agent": a,
                        "criterion": k,
                        "met": c.met,
                        "not_met": c.not_met,
                        "pass_rate": _estimate(c.estimate, "rate"),
                    }
                    for (a, k), c in heat.cells.items()
                ],
            }
        )


def _latency_json(latency: selectors.Latency) -> dict[str, Any]:
    return {"n": latency.n, "p50_ms": latency.p50_ms, "p95_ms": latency.p95_ms,
            "few": latency.few}  # fmt: skip


class VirtualAgentView(InsightsView):
    @extend_schema(
        summary="The reference virtual agent's scoreboard: containment, task success, "
        "interruptions recovered, abandoned calls, latency percentiles per caller turn, and "
        "handoff reasons",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(request)
        kpis = [selectors.KPI_BY_KEY[key] for key in selectors.VA_KPI_KEYS]
        result = selectors.overview(user=request.user, filters=filters, kpis=kpis)
        latency = selectors.va_latency(user=request.user, filters=filters)
        return Response(
            {
                **_filters_json(filters),
                "calls": int(result.totals.get("va_conversations") or 0),
                "figures": {
                    v.kpi.key: {
                        "label": v.kpi.label,
                        "kind": v.kpi.kind,
                        "current": _estimate(v.current, v.kpi.kind),
                        "previous": _estimate(v.previous, v.kpi.kind),
                        "hits": v.hits if v.kpi.kind == "rate" else None,
                    }
                    for v in result.values
                },
                "first_token": _latency_json(latency.first_token),
                "first_helpful": _latency_json(latency.first_helpful),
                "handoff_reasons": [
                    {
                        "code": row.code,
                        "label": row.label,
                        "calls": row.conversations,
                        "share": row.share,
                    }
                    for row in selectors.va_reasons(user=request.user, filters=filters)
                ],
            }
        )


class LabelsView(InsightsView):
    @extend_schema(
        summary="Topics, outcomes, handoff reasons and suggestion operators with counts",
        parameters=FILTERS,
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(request)
        found = selectors.labels(user=request.user, filters=filters)
        return Response(
            {
                **_filters_json(filters),
                **{
                    kind.lower(): [
                        {
                            "label": row.label,
                            "conversations": row.conversations,
                            "previous": row.previous,
                            **(
                                {
                                    "suggestions": row.value_n,
                                    "closeness": _estimate(row.closeness),
                                    "followed": _estimate(row.followed, "rate"),
                                }
                                if kind == "SUGGESTION"
                                else {}
                            ),
                        }
                        for row in rows
                    ]
                    for kind, rows in found.items()
                },
            }
        )


class SeriesView(InsightsView):
    @extend_schema(
        summary="One figure per day (per week beyond 92 days), with the previous period",
        parameters=[
            *FILTERS,
            OpenApiParameter("kpi", OpenApiTypes.STR, enum=[k.key for k in selectors.KPIS]),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(request)
        key = str(request.query_params.get("kpi", "qa_score"))
        kpi = selectors.KPI_BY_KEY.get(key)
        if kpi is None:
            from apps.common.errors import ValidationFailed

            raise ValidationFailed({"kpi": [f"Use one of: {', '.join(selectors.KPI_BY_KEY)}."]})
        grain, points = selectors.series(user=request.user, filters=filters, kpi=kpi)
        return Response(
            {
                **_filters_json(filters),
                "kpi": kpi.key,
                "grain": grain,
                "points": [
                    {
                        "from": p.start,
                        "to": p.end,
                        "value": _estimate(p.value, kpi.kind),
                        "previous": _estimate(p.previous, kpi.kind),
                    }
                    for p in points
                ],
            }
        )


def _fact_json(fact: Any) -> dict[str, Any]:
    return {
        column: (
            getattr(fact, column)
            if column not in ("team", "agent", "twilio_id", "suggestion_closeness_avg")
            else None
        )
        for column in selectors.FACT_COLUMNS
    } | {
        "twilio_id": fact.conversation.twilio_id,
        "team": fact.team.name if fact.team_id else None,
        "agent": fact.agent.display_name if fact.agent_id else None,
        "suggestion_closeness_avg": (
            fact.suggestion_closeness_sum / fact.suggestions if fact.suggestions else None
        ),
    }


class ConversationsView(InsightsView):
    @extend_schema(
        summary="The conversations behind a number: facts, newest first, 50 a page",
        parameters=[*FILTERS, *PREDICATES, OpenApiParameter("after", OpenApiTypes.STR)],
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(request)
        facts = selectors.drilldown_facts(
            user=request.user,
            filters=filters,
            predicates=selectors.predicates_of(request.query_params),
        )
        page = selectors.facts_page(facts, after=str(request.query_params.get("after", "")))
        return Response(
            {
                "count": page.count,
                "count_capped": page.more,
                "next": page.next_cursor or None,
                "results": [_fact_json(fact) for fact in page.rows],
            }
        )


class ConversationsCsvView(InsightsView):
    @extend_schema(
        summary="One row per conversation: every fact, as CSV",
        parameters=[*FILTERS, *PREDICATES],
        responses={(200, "text/csv"): _CSV, 400: _INVALID},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters = self.filters(request)
        facts = selectors.drilldown_facts(
            user=request.user,
            filters=filters,
            predicates=selectors.predicates_of(request.query_params),
        )
        name = f"conversations-{filters.period.start}-{filters.period.end}.csv"
        return csv_response(selectors.csv_lines(selectors.fact_rows(facts)), name)
