"""Read-only API over conversations, participants and communications.

Rows arrive from Twilio webhooks; nothing here writes. Every viewset gets its rows from a selector
called with the caller (``ScopedReadOnlyViewSet``), so the API sees exactly what the pages see.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from ccportal.viewsets import ErrorSerializer, ScopedReadOnlyViewSet

from ..filters import ConversationFilter
from ..selectors import (
    communication_list,
    communication_timeline,
    conversation_list,
    participant_list,
)
from .filters import CommunicationFilter, ParticipantFilter
from .serializers import (
    CommunicationSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    ParticipantSerializer,
)

_INVALID_FILTER = OpenApiResponse(
    ErrorSerializer, description="A filter value is invalid; `errors` names the parameter."
)
_NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="No such row, or not one the caller may see."
)


@extend_schema_view(
    list=extend_schema(
        summary="List conversations",
        parameters=[
            # ConversationFilter.agent filters through a method, which the schema reads as a
            # string; it takes an agent id.
            OpenApiParameter(
                "agent", OpenApiTypes.INT, description="Agent id: conversations they took part in"
            ),
        ],
        responses={200: ConversationSerializer(many=True), 400: _INVALID_FILTER},
    ),
    retrieve=extend_schema(
        summary="Get a conversation",
        description="One conversation with its participants in full.",
        responses={200: ConversationDetailSerializer, 404: _NOT_FOUND},
    ),
)
class ConversationViewSet(ScopedReadOnlyViewSet):
    """Conversations the caller may see, newest first, with the same filters as the page."""

    selector = conversation_list
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    ordering_fields = ["started_at"]

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "retrieve":
            return ConversationDetailSerializer
        return ConversationSerializer

    @extend_schema(
        summary="Get a conversation's transcript",
        description="Its communications in spoken order, paginated.",
        responses={200: CommunicationSerializer(many=True), 404: _NOT_FOUND},
    )
    # The list filters describe conversations, not transcript lines: none apply here.
    @action(detail=True, filter_backends=[])
    def communications(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        page = self.paginate_queryset(communication_timeline(conversation=conversation))
        serializer = CommunicationSerializer(page, many=True)
        return self.get_paginated_response(serializer.data)


@extend_schema_view(
    list=extend_schema(
        summary="List participants",
        responses={200: ParticipantSerializer(many=True), 400: _INVALID_FILTER},
    ),
    retrieve=extend_schema(
        summary="Get a participant",
        description="One participant of a conversation the caller may see.",
        responses={200: ParticipantSerializer, 404: _NOT_FOUND},
    ),
)
class ParticipantViewSet(ScopedReadOnlyViewSet):
    """Participants of the conversations the caller may see."""

    selector = participant_list
    serializer_class = ParticipantSerializer
    filterset_class = ParticipantFilter
    ordering_fields = ["joined_at"]


@extend_schema_view(
    list=extend_schema(
        summary="List communications",
        responses={200: CommunicationSerializer(many=True), 400: _INVALID_FILTER},
    ),
    retrieve=extend_schema(
        summary="Get a communication",
        description="One communication of a conversation the caller may see.",
        responses={200: CommunicationSerializer, 404: _NOT_FOUND},
    ),
)
class CommunicationViewSet(ScopedReadOnlyViewSet):
    """Messages and transcribed utterances of the conversations the caller may see."""

    selector = communication_list
    serializer_class = CommunicationSerializer
    filterset_class = CommunicationFilter
    ordering_fields = ["occurred_at"]
