"""The coaching API: the coach's home rows and an agent's scorecard (its routes are in
``urlpatterns``).

``GET /api/coaching/agents/``: the agents in the caller's scope sorted by need, paginated (the
same rows and order as ``/coaching/``). ``GET /api/coaching/agents/<id>/scorecard/?days=30``:
the scorecard's figures, each with n and its 95% interval (30 or 90 days; anything else is a
400). An agent outside the caller's scope is a 404; a role without coaching a 403.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import can_use
from apps.insights.stats import Estimate
from ccportal.api import Pagination
from ccportal.viewsets import ErrorSerializer

from ..selectors import home, scorecard


class CanUseCoaching(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "coaching")


def estimate_json(value: Estimate | None) -> dict[str, Any] | None:
    """A figure: its value, n and 95% interval (Student's t for a mean, Wilson's for a rate)."""
    if value is None:
        return None
    return {"value": value.value, "n": value.n, "low": value.low, "high": value.high}


class EstimateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class WeakestSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    rate = EstimateSerializer()


class AgentNeedSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="agent.pk")
    name = serializers.CharField(source="agent.display_name")
    team = serializers.CharField(source="agent.team.name", default=None, allow_null=True)
    weakest = serializers.SerializerMethodField()
    goals_at_risk = serializers.IntegerField()
    overdue_actions = serializers.IntegerField()
    reviews_since = serializers.IntegerField(
        help_text="Submitted reviews since the latest held session (or the last 30 days)."
    )
    last_session = serializers.DateTimeField(allow_null=True)

    def get_weakest(self, row: home.AgentNeed) -> dict[str, Any] | None:
        if row.weakest is None:
            return None
        return {
            "key": row.weakest.key,
            "name": row.weakest.name,
            "rate": estimate_json(row.weakest.rate),
        }


class AgentNeedList(APIView):
    permission_classes = [IsAuthenticated, CanUseCoaching]
    pagination_class = Pagination

    @extend_schema(
        summary="The agents in scope, neediest first",
        responses={200: AgentNeedSerializer(many=True), 403: ErrorSerializer},
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
    )
    def get(self, request: Request) -> Response:
        rows = home.agents_by_need(user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)  # type: ignore[arg-type]
        return paginator.get_paginated_response(AgentNeedSerializer(page, many=True).data)


class CriterionSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    human = EstimateSerializer(help_text="Reviewers' pass rate: met / (met + not met).")
    ai = EstimateSerializer(help_text="The AI's pass rate.")
    enough = serializers.BooleanField(help_text="At least COACHING_MIN_N reviewed answers.")


def _criterion(c: scorecard.CriterionFigure) -> dict[str, Any]:
    return {
        "key": c.key,
        "name": c.name,
        "kind": c.kind,
        "human": estimate_json(c.human),
        "ai": estimate_json(c.ai),
        "enough": c.enough,
    }


def scorecard_json(card: scorecard.Scorecard, *, can_manage: bool) -> dict[str, Any]:
    return {
        "agent": {
            "id": card.agent.pk,
            "name": card.agent.display_name,
            "team": card.agent.team.name if card.agent.team else None,
        },
        "days": card.days,
        "from": card.start.isoformat(),
        "to": card.end.isoformat(),
        "minimum_n": card.minimum,
        "figures": {str(metric): estimate_json(value) for metric, value in card.figures.items()},
        "trends": {
            str(trend.metric): [
                {
                    "from": p.start.isoformat(),
                    "to": p.end.isoformat(),
                    **(estimate_json(p.value) or {}),
                }
                for p in trend.points
            ]
            for trend in card.trends
        },
        "criteria": [_criterion(c) for c in card.criteria],
        "strongest": [c.key for c in card.strongest],
        "weakest": [c.key for c in card.weakest],
        "coach_on_this": (
            {
                c.key: scorecard.coach_on_this_url(
                    agent_id=card.agent.pk, criterion=c.key, origin="scorecard"
                )
                for c in card.criteria
            }
            if can_manage
            else {}
        ),
        "recent_reviews": [
            {
                "id": r.pk,
                "score": float(r.score) if r.score is not None else None,
                "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
                "conversation": r.conversation_id,
            }
            for r in card.reviews
        ],
        "open_actions": [
            {
                "id": a.pk,
                "text": a.text,
                "due_on": a.due_on.isoformat() if a.due_on else None,
                "owner": a.owner_id,
                "session": a.session_id,
            }
            for a in card.actions
        ],
        "goals": [
            {
                "id": g.pk,
                "metric": g.metric,
                "criterion_key": g.criterion_key,
                "target": g.target,
                "due_on": g.due_on.isoformat(),
                "status": g.status,
                "baseline": {
                    "value": g.baseline,
                    "n": g.baseline_n,
                    "low": g.baseline_low,
                    "high": g.baseline_high,
                },
                "progress": {
                    "value": g.progress,
                    "n": g.progress_n,
                    "low": g.progress_low,
                    "high": g.progress_high,
                },
            }
            for g in card.goals
        ],
    }


class AgentScorecard(APIView):
    permission_classes = [IsAuthenticated, CanUseCoaching]

    @extend_schema(
        summary="An agent's scorecard: figures with n and 95% intervals",
        parameters=[
            OpenApiParameter("days", OpenApiTypes.INT, enum=list(scorecard.WINDOWS), default=30)
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiResponse(ErrorSerializer, description="days is not 30 or 90."),
            403: ErrorSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such agent in your scope."),
        },
    )
    def get(self, request: Request, agent_id: int) -> Response:
        days = scorecard.window_parse(request.query_params.get("days"))
        card = scorecard.scorecard(user=request.user, agent_id=agent_id, days=days)
        return Response(scorecard_json(card, can_manage=can_use(request.user, "coaching_manage")))


urlpatterns: list[URLPattern] = [
    path("agents/", AgentNeedList.as_view(), name="api-coaching-agents"),
    path(
        "agents/<int:agent_id>/scorecard/",
        AgentScorecard.as_view(),
        name="api-coaching-agent-scorecard",
    ),
]
