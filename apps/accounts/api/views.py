"""API of a person's own notifications (/api/notifications/): nobody else's, whatever the role."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ccportal.viewsets import StableOrderingFilter

from .. import selectors, services
from ..models import Notification
from .serializers import NotificationReadSerializer, NotificationSerializer, UnreadSerializer


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(
        field_name="read_at",
        lookup_expr="isnull",
        help_text="Only unread (true) or read (false) ones.",
    )

    class Meta:
        model = Notification
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="List your notifications", description="Newest first."),
)
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What changed in the caller's work; the bell on every page shows the same."""

    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = NotificationFilter
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Notification]:
        return selectors.notification_list(user=self.request.user)

    @extend_schema(
        summary="Mark notifications read",
        request=NotificationReadSerializer,
        responses={200: UnreadSerializer},
    )
    @action(detail=False, methods=["post"], filter_backends=[])
    def read(self, request: Request) -> Response:
        incoming = NotificationReadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.notifications_mark_read(user=request.user, ids=incoming.validated_data.get("ids"))  # type: ignore[arg-type]
        return Response({"unread": selectors.notification_unread_count(user=request.user)})
