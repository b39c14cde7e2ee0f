"""The audit trail as JSON, for admins: the global page's filters, paginated."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.scoping import can_use

from .. import selectors
from ..forms import AuditFilterForm
from .serializers import AuditEventSerializer


class CanAudit(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "audit")


_STR, _INT, _DATE = OpenApiTypes.STR, OpenApiTypes.INT, OpenApiTypes.DATE


class EventListView(GenericAPIView):  # type: ignore[type-arg]
    permission_classes = [IsAuthenticated, CanAudit]
    serializer_class = AuditEventSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        summary="The audit trail: changes, newest first",
        description="Every change to a tracked model (rules, operators, rubrics, knowledge, "
        "customer memory, sampling policies, reviews, disputes, calibration, coaching, users, "
        "teams): who (actor), when, what (kind, object_id, action), the fields changed "
        "(before and after) and the reason given. Admins only.",
        parameters=[
            OpenApiParameter("kind", _STR, description="e.g. rule, rubric, review, user"),
            OpenApiParameter("action", _STR, enum=["insert", "update", "delete"]),
            OpenApiParameter("actor", _STR, description="A username"),
            OpenApiParameter("since", _DATE),
            OpenApiParameter("until", _DATE),
            OpenApiParameter("object", _INT, description="The changed object's id"),
            OpenApiParameter("reason", _STR, description="Words in the reason given"),
        ],
    )
    def get(self, request: Request) -> Response:
        form = AuditFilterForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        filters = form.filters()
        if filters is None:  # a username nobody has
            return Response({"count": 0, "next": None, "previous": None, "results": []})
        page = self.paginate_queryset(selectors.events(filters))  # type: ignore[arg-type]
        events = selectors.event_rows(page or [])
        return self.get_paginated_response(AuditEventSerializer(events, many=True).data)
