"""API of wrap-ups: what a CRM reads, and what the panel's form writes.

- ``GET /api/wrapups/``: saved wrap-ups of the conversations the caller may see, newest first,
  filtered by ``call_sid``, ``conversation``, ``agent``, ``outcome``, ``saved_after``.
- ``GET /api/conversations/<id>/wrapup/``: a conversation's wrap-up state (the AI's proposal,
  the deadline, the saved version); ``PUT`` saves the agent's version (the agent on the call).
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from apps.conversations import selectors as conversations
from ccportal.viewsets import ErrorSerializer, IdFilter, IsoDateTimeFilter, ScopedReadOnlyViewSet

from .. import selectors, services
from ..models import Wrapup
from .serializers import WrapupProposalSerializer, WrapupSerializer, WrapupWriteSerializer


class WrapupFilter(django_filters.FilterSet):
    call_sid = django_filters.CharFilter(method="by_call", help_text="A Call SID of the call")
    conversation = IdFilter(field_name="conversation__id")
    agent = IdFilter(field_name="agent__id")
    outcome = django_filters.CharFilter(field_name="outcome", lookup_expr="iexact")
    saved_after = IsoDateTimeFilter(field_name="saved_at", lookup_expr="gte")

    class Meta:
        model = Wrapup
        fields: list[str] = []

    def by_call(self, queryset: QuerySet[Wrapup], name: str, value: str) -> QuerySet[Wrapup]:
        return queryset.filter(conversation__call_sids__contains=[value])


class WrapupViewSet(ScopedReadOnlyViewSet):
    selector = selectors.wrapup_list
    serializer_class = WrapupSerializer
    filterset_class = WrapupFilter
    ordering_fields = ["saved_at"]


class ConversationWrapupView(APIView):
    permission_classes = [IsAuthenticated]

    def _state(self, request: Request, pk: int) -> dict[str, object]:
        conversation = conversations.conversation_get(user=request.user, pk=pk)
        state = selectors.wrapup_state(user=request.user, conversation=conversation)
        return {
            "ended": state.ended,
            "ended_at": state.ended_at,
            "due_at": state.due_at,
            "can_edit": state.can_edit,
            "outcomes": state.outcomes,
            "ai": state.ai,
            "ai_summary_result": state.initial["ai_result"] or None,
            "saved": state.saved,
        }

    @extend_schema(
        summary="A conversation's wrap-up: the AI's proposal, the deadline, the saved version",
        responses={200: WrapupProposalSerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(WrapupProposalSerializer(self._state(request, pk)).data)

    @extend_schema(
        summary="Save the agent's wrap-up (the agent on the call, once it ended)",
        request=WrapupWriteSerializer,
        responses={
            200: WrapupSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Problems by field"),
            403: OpenApiResponse(ErrorSerializer, description="Not the agent on this call"),
            404: OpenApiResponse(ErrorSerializer),
            409: OpenApiResponse(ErrorSerializer, description="Call going on, or saved meanwhile"),
        },
    )
    def put(self, request: Request, pk: int) -> Response:
        conversation = conversations.conversation_get(user=request.user, pk=pk)
        data = WrapupWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wrapup = services.wrapup_save(
            user=request.user,  # type: ignore[arg-type]  # IsAuthenticated
            conversation=conversation,
            summary=data.validated_data["summary"],
            topic=data.validated_data["topic"],
            outcome=data.validated_data["outcome"],
            revision=data.validated_data["revision"],
            ai_summary_result_id=data.validated_data.get("ai_summary_result"),
        )
        saved = selectors.wrapup_get(user=request.user, conversation_id=wrapup.conversation_id)
        return Response(WrapupSerializer(saved).data)


router = DefaultRouter()
router.register("wrapups", WrapupViewSet, basename="api-wrapup-list")

urlpatterns = [
    path("conversations/<int:pk>/wrapup/", ConversationWrapupView.as_view(), name="api-wrapup"),
    *router.urls,
]
