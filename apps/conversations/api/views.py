"""Read-only API over conversations, participants and communications.

Rows arrive from Twilio webhooks; nothing here writes. Every viewset gets its rows from a selector
called with the caller (``ScopedReadOnlyViewSet``), so the API sees exactly what the pages see.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.accounts.scoping import can_use
from apps.common.pagination import CountedRowsByIdPaginator, RowsByIdPaginator
from ccportal.api import Pagination
from ccportal.viewsets import ErrorSerializer, ScopedReadOnlyViewSet

from .. import access
from ..filters import AccessLogFilter, ConversationFilter
from ..selectors import (
    access_log_list,
    communication_list,
    communication_timeline,
    conversation_list,
    conversation_rows,
    participant_list,
)
from .filters import CommunicationFilter, ParticipantFilter
from .serializers import (
    CommunicationSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    ParticipantSerializer,
    TranscriptAccessSerializer,
)

_INVALID_FILTER = OpenApiResponse(
    ErrorSerializer, description="A filter value is invalid; `errors` names the parameter."
)
_NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="No such row, or not one the caller may see."
)
# Every answer with transcript text is a logged read; some need a reason first.
_REASON = [
    OpenApiParameter(
        access.REASON_HEADER,
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        description="Why the transcript is read (logged). Needed when the conversation is "
        "marked sensitive or lies outside the caller's usual work (ACCESS_REASON_MODE); "
        "without it such a read is answered 403 `access_reason_required`.",
    ),
    OpenApiParameter(
        access.REASON_PARAMETER,
        OpenApiTypes.STR,
        description=f"The same as the `{access.REASON_HEADER}` header, for clients that "
        "cannot set headers.",
    ),
]
_REASON_REQUIRED = OpenApiResponse(
    ErrorSerializer,
    description="`code` is `access_reason_required`: a conversation read needs a reason. "
    f"Send it in the `{access.REASON_HEADER}` header (or `?reason=`) and ask again; "
    "`extra.conversations` lists the conversations that need one.",
)


class _ConversationPaginator(RowsByIdPaginator):
    def __init__(self, object_list: Any, per_page: int, **kwargs: Any) -> None:
        super().__init__(
            object_list, per_page, rows=lambda ids: conversation_rows(ids=ids), **kwargs
        )


class _SearchPaginator(CountedRowsByIdPaginator):
    def __init__(self, object_list: Any, per_page: int, **kwargs: Any) -> None:
        super().__init__(
            object_list, per_page, rows=lambda ids: conversation_rows(ids=ids), **kwargs
        )


class ConversationPagination(Pagination):
    """The API's page numbers; a page's rows are read by id (``RowsByIdPaginator``); a
    search's count and page ids in one query (``CountedRowsByIdPaginator``)."""

    django_paginator_class: Any = _ConversationPaginator

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None
    ) -> list[Any] | None:
        searching = bool(request.query_params.get("q", "").strip())
        self.django_paginator_class = _SearchPaginator if searching else _ConversationPaginator
        return super().paginate_queryset(queryset, request, view)


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
    pagination_class = ConversationPagination
    ordering_fields = ["started_at"]

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "retrieve":
            return ConversationDetailSerializer
        return ConversationSerializer

    @extend_schema(
        summary="Get a conversation's transcript",
        description="Its communications in spoken order, paginated. A logged read "
        "(the transcript access log).",
        parameters=_REASON,
        responses={
            200: CommunicationSerializer(many=True),
            403: _REASON_REQUIRED,
            404: _NOT_FOUND,
        },
    )
    # The list filters describe conversations, not transcript lines: none apply here.
    @action(detail=True, filter_backends=[], pagination_class=Pagination)
    def communications(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        access.api_read(request, {conversation.pk: conversation.sensitive})
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


class CommunicationPagination(CursorPagination):
    """Next and previous cursors, oldest first (``?ordering=-occurred_at``: newest first), and no
    count: the list spans every line of every call in scope (a million here), and an exact
    count and deep OFFSETs read them all on each request. Clients follow ``next``."""

    ordering = ("occurred_at", "id")
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema_view(
    list=extend_schema(
        summary="List communications",
        description="A logged read of every conversation on the page. Paged by cursor "
        "(`next` / `previous` links), oldest first; there is no total count.",
        parameters=_REASON,
        responses={
            200: CommunicationSerializer(many=True),
            400: _INVALID_FILTER,
            403: _REASON_REQUIRED,
        },
    ),
    retrieve=extend_schema(
        summary="Get a communication",
        description="One communication of a conversation the caller may see. A logged read.",
        parameters=_REASON,
        responses={200: CommunicationSerializer, 403: _REASON_REQUIRED, 404: _NOT_FOUND},
    ),
)
class CommunicationViewSet(ScopedReadOnlyViewSet):
    """Messages and transcribed utterances of the conversations the caller may see."""

    selector = communication_list
    serializer_class = CommunicationSerializer
    filterset_class = CommunicationFilter
    ordering_fields = ["occurred_at"]
    pagination_class = CommunicationPagination

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        # The selector joins each line's conversation: its sensitivity costs no query.
        access.api_read(request, {row.conversation_id: row.conversation.sensitive for row in rows})
        serializer = self.get_serializer(rows, many=True)
        if page is not None:
            return self.get_paginated_response(serializer.data)
        return Response(serializer.data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        line = self.get_object()
        access.api_read(request, {line.conversation_id: line.conversation.sensitive})
        return Response(self.get_serializer(line).data)


class ReadsAccessLog(BasePermission):
    message = "Only admins read the transcript access log."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "access_log")


@extend_schema_view(
    list=extend_schema(
        summary="List the transcript access log",
        description="Every read of transcript text, newest first: who, which conversation, "
        "how (PAGE, API, EXPORT, LIVE), when and why. Admins only (403 for anyone else).",
        responses={
            200: TranscriptAccessSerializer(many=True),
            400: _INVALID_FILTER,
            403: ErrorSerializer,
        },
    ),
)
class TranscriptAccessViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The transcript access log (admins), with the page's filters: a list, nothing else."""

    permission_classes = [IsAuthenticated, ReadsAccessLog]
    serializer_class = TranscriptAccessSerializer
    filterset_class = AccessLogFilter
    filter_backends = ScopedReadOnlyViewSet.filter_backends
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Any]:
        return access_log_list(user=self.request.user)
