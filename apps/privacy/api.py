"""API of erasure requests and the retention schedule (admins only).

- ``GET|POST /api/privacy/erasures/``: requests, newest first; file one
  (``{"kind": "ADDRESS", "identifier": "+15550100199"}`` or ``{"kind": "PROFILE",
  "identifier": "42"}``): 201 with the new request, 200 with the one already under way.
- ``GET /api/privacy/erasures/<id>/``: one request, its status, progress and counts.
- ``GET /api/privacy/retention/``: per kind, its schedule and how many rows the next run takes.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ccportal.viewsets import ErrorSerializer

from . import selectors, services
from .choices import IdentifierKind
from .models import ErasureRequest
from .retention import retention_counts


class MayManagePrivacy(BasePermission):
    message = "Only admins may see or file erasure requests."

    def has_permission(self, request: Request, view: Any) -> bool:
        return services.may_manage(request.user)


class ErasureSerializer(serializers.ModelSerializer[ErasureRequest]):
    requested_by = serializers.SerializerMethodField()
    steps_total = serializers.SerializerMethodField()
    steps_done = serializers.SerializerMethodField()
    found = serializers.SerializerMethodField()

    class Meta:
        model = ErasureRequest
        fields = [
            "id",
            "kind",
            "identifier_hash",
            "status",
            "requested_by",
            "created_at",
            "started_at",
            "completed_at",
            "attempts",
            "steps_total",
            "steps_done",
            "found",
            "counts",
            "error",
        ]

    def get_requested_by(self, obj: ErasureRequest) -> str | None:
        return obj.requested_by.get_username() if obj.requested_by else None

    def get_steps_total(self, obj: ErasureRequest) -> int:
        return int(selectors.erasure_progress(obj)["steps_total"])

    def get_steps_done(self, obj: ErasureRequest) -> int:
        return int(selectors.erasure_progress(obj)["steps_done"])

    def get_found(self, obj: ErasureRequest) -> dict[str, int]:
        return dict(selectors.erasure_progress(obj)["found"])


class ErasureCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentifierKind.choices)
    identifier = serializers.CharField(max_length=255)


class RetentionKindSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    setting = serializers.CharField()
    days = serializers.IntegerField(help_text="0: kept for ever")
    action = serializers.CharField(help_text="PURGE or ANONYMISE")
    why = serializers.CharField()
    cutoff = serializers.DateTimeField(allow_null=True)
    due = serializers.IntegerField(allow_null=True, help_text="Rows the next run takes")


_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Not signed in, or not an admin.")


class ErasureListView(APIView):
    permission_classes = [IsAuthenticated, MayManagePrivacy]

    @extend_schema(responses={200: ErasureSerializer(many=True), 403: _FORBIDDEN})
    def get(self, request: Request) -> Response:
        rows = selectors.erasure_list(user=request.user)[:200]
        return Response(ErasureSerializer(rows, many=True).data)

    @extend_schema(
        request=ErasureCreateSerializer,
        responses={
            201: ErasureSerializer,
            200: ErasureSerializer,
            400: ErrorSerializer,
            403: _FORBIDDEN,
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = ErasureCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        erasure, created = services.erasure_file(
            user=request.user,
            kind=data.validated_data["kind"],
            identifier=data.validated_data["identifier"],
        )
        return Response(
            ErasureSerializer(erasure).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ErasureDetailView(APIView):
    permission_classes = [IsAuthenticated, MayManagePrivacy]

    @extend_schema(responses={200: ErasureSerializer, 403: _FORBIDDEN, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(ErasureSerializer(selectors.erasure_get(user=request.user, pk=pk)).data)


class RetentionView(APIView):
    permission_classes = [IsAuthenticated, MayManagePrivacy]

    @extend_schema(responses={200: RetentionKindSerializer(many=True), 403: _FORBIDDEN})
    def get(self, request: Request) -> Response:
        rows = [
            {
                "key": row.kind.key,
                "title": row.kind.label,
                "setting": row.kind.setting,
                "days": row.kind.days,
                "action": str(row.kind.action),
                "why": row.kind.why,
                "cutoff": row.cutoff,
                "due": row.due,
            }
            for row in retention_counts()
        ]
        return Response(RetentionKindSerializer(rows, many=True).data)


urlpatterns = [
    path("privacy/erasures/", ErasureListView.as_view(), name="api-privacy-erasures"),
    path(
        "privacy/erasures/<int:pk>/",
        ErasureDetailView.as_view(),
        name="api-privacy-erasure-detail",
    ),
    path("privacy/retention/", RetentionView.as_view(), name="api-privacy-retention"),
]
