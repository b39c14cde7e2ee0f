"""API of rubric impact previews (/api/qa/impact/...), for admins.

- ``POST /api/qa/impact/`` ``{"version": <draft id>, "days": 30}``: start (or get the same
  draft's preview that is still running): 202 with the preview.
- ``GET /api/qa/impact/?version=<id>``: previews, newest first.
- ``GET /api/qa/impact/<id>/``: one preview with its progress, its summary once DONE, and
  ``stale`` when the draft changed since.
- ``GET /api/qa/impact/<id>/rows/?team=&agent=&criterion=&change=down``: its conversations,
  the biggest drops first, paginated.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.common.forms import parse_id
from apps.rubrics import selectors as rubrics
from ccportal.viewsets import ErrorSerializer, ScopedReadOnlyViewSet

from .. import selectors, services
from ..models import ImpactPreview, ImpactRow
from .serializers import PersonField

_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such preview or version.")
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Only admins preview impact.")
_INVALID = OpenApiResponse(ErrorSerializer, description="Bad days or version.")
_CONFLICT = OpenApiResponse(ErrorSerializer, description="The version is not a draft.")


class CanPreviewImpact(BasePermission):
    message = "Only admins preview a rubric's impact."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "qa_impact")


class ImpactPreviewSerializer(serializers.ModelSerializer):
    rubric = serializers.IntegerField(source="rubric_version.rubric_id", read_only=True)
    rubric_name = serializers.CharField(source="rubric_version.rubric.name", read_only=True)
    version_number = serializers.IntegerField(source="rubric_version.number", read_only=True)
    baseline_number = serializers.IntegerField(
        source="baseline_version.number", read_only=True, allow_null=True
    )
    progress = serializers.SerializerMethodField(help_text="done / total, 0 to 1.")
    created_by = PersonField()
    url = serializers.SerializerMethodField(help_text="The preview's page.")

    class Meta:
        model = ImpactPreview
        fields = [
            "id",
            "rubric",
            "rubric_name",
            "rubric_version",
            "version_number",
            "baseline_version",
            "baseline_number",
            "status",
            "days",
            "total",
            "done",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "created_by",
            "url",
        ]

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_progress(self, preview: ImpactPreview) -> float:
        if preview.status == "DONE":
            return 1.0
        return round(preview.done / preview.total, 3) if preview.total else 0.0

    def get_url(self, preview: ImpactPreview) -> str:
        return reverse("qa-impact", args=[preview.pk])


class ImpactPreviewDetailSerializer(ImpactPreviewSerializer):
    stale = serializers.SerializerMethodField(
        help_text="The draft changed since (or was published): run it again."
    )
    summary = serializers.JSONField(
        read_only=True,
        help_text="Once DONE: overall, teams and agents (before, after, delta with its 95% "
        "interval, n), newly_failing criteria with counts, the criteria changed, new, "
        "removed, and the seconds each phase took.",
    )

    class Meta(ImpactPreviewSerializer.Meta):
        fields = [*ImpactPreviewSerializer.Meta.fields, "stale", "summary"]

    def get_stale(self, preview: ImpactPreview) -> bool:
        return services.is_stale(preview=preview)


class ImpactStartSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The draft rubric version.")
    days = serializers.IntegerField(default=30, min_value=1, max_value=365)


class NamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ImpactRowSerializer(serializers.ModelSerializer):
    conversation_name = serializers.CharField(source="conversation.name", read_only=True)
    started_at = serializers.DateTimeField(source="conversation.started_at", read_only=True)
    agent_name = serializers.CharField(source="agent.display_name", default=None)
    team_name = serializers.CharField(source="team.name", default=None)
    delta = serializers.SerializerMethodField()
    conversation_url = serializers.SerializerMethodField()

    class Meta:
        model = ImpactRow
        fields = [
            "conversation",
            "conversation_name",
            "started_at",
            "agent",
            "agent_name",
            "team",
            "team_name",
            "before",
            "after",
            "delta",
            "newly_failing",
            "conversation_url",
        ]

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_delta(self, row: ImpactRow) -> str | None:
        if row.before is None or row.after is None:
            return None
        return str(row.after - row.before)

    def get_conversation_url(self, row: ImpactRow) -> str:
        return reverse("conversation-detail", args=[row.conversation_id])


_CRITERION_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def row_filters(params: Any) -> selectors.RowFilters:
    """``team``, ``agent`` (ids), ``criterion`` (a key), ``change`` (down, up, same) from a
    query string; a bad id is a 400, not a 500."""
    values: dict[str, Any] = {}
    for name in ("team", "agent"):
        raw = (params.get(name) or "").strip()
        if raw:
            found = parse_id(raw)
            if found is None:
                raise ValidationError({name: ["A whole number (an id)."]})
            values[name] = found
    criterion = (params.get("criterion") or "").strip()
    if criterion and not _CRITERION_KEY.fullmatch(criterion):
        raise ValidationError({"criterion": ["A criterion key (letters, digits, _ and -)."]})
    values["criterion"] = criterion
    change = (params.get("change") or "").strip()
    if change and change not in ("down", "up", "same"):
        raise ValidationError({"change": ["down, up or same."]})
    values["change"] = change
    return selectors.RowFilters(**values)


_ROW_PARAMETERS = [
    OpenApiParameter("team", int, description="Team id."),
    OpenApiParameter("agent", int, description="Agent id."),
    OpenApiParameter("criterion", str, description="Rows where this criterion newly fails."),
    OpenApiParameter("change", str, enum=["down", "up", "same"], description="Score change."),
]


@extend_schema_view(
    list=extend_schema(
        summary="List impact previews",
        parameters=[OpenApiParameter("version", int, description="Only this draft's.")],
        responses={200: ImpactPreviewSerializer(many=True), 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="Get an impact preview with its progress and summary",
        responses={200: ImpactPreviewDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class ImpactPreviewViewSet(ScopedReadOnlyViewSet):
    """Rubric impact previews: a draft version re-scoring stored conversations."""

    selector = selectors.impact_preview_list
    serializer_class = ImpactPreviewSerializer
    permission_classes = [IsAuthenticated, CanPreviewImpact]
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        previews = super().get_queryset()
        version = self.request.query_params.get("version", "").strip()
        if version:
            version_id = parse_id(version)
            if version_id is None:
                raise ValidationError({"version": ["A whole number (an id)."]})
            previews = previews.filter(rubric_version_id=version_id)
        return previews

    def get_serializer_class(self) -> Any:
        if self.action == "retrieve":
            return ImpactPreviewDetailSerializer
        return super().get_serializer_class()

    @extend_schema(
        summary="Start an impact preview of a draft version",
        description="Queues the preview (or returns the same draft's preview still running).",
        request=ImpactStartSerializer,
        responses={
            202: ImpactPreviewDetailSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    def create(self, request: Request) -> Response:
        incoming = ImpactStartSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        version = rubrics.version_by_id(pk=incoming.validated_data["version"])
        if version is None:
            raise NotFound("No such rubric version.")
        preview = services.impact_preview_start(
            user=request.user, version=version, days=incoming.validated_data["days"]
        )
        preview = selectors.impact_preview_get(user=request.user, pk=preview.pk)
        return Response(
            ImpactPreviewDetailSerializer(preview).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(
        summary="The conversations of an impact preview",
        parameters=_ROW_PARAMETERS,
        responses={200: ImpactRowSerializer(many=True), 400: _INVALID, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def rows(self, request: Request, pk: str | None = None) -> Response:
        preview = self.get_object()
        rows = selectors.impact_row_list(
            user=request.user, preview=preview, filters=row_filters(request.query_params)
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ImpactRowSerializer(page, many=True).data)
