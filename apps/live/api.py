"""``GET /api/conversations/<id>/events/?after=N&epoch=E``: the events a page missed.

A page numbers what it applied; when the socket skips a number, reconnects, or has been quiet
for a while, it asks here for everything after its last number. The answer is the events in
order (``has_more`` while there are more than one answer holds), or 410 Gone when they cannot be
replayed (purged after ``LIVE_EVENT_RETENTION_HOURS``, or numbered in another epoch): the page
then reloads what it shows. Only for users who may see the conversation (404 otherwise).
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from apps.common.errors import ApplicationError, NotFound, ValidationFailed
from apps.conversations import selectors as conversations
from ccportal.viewsets import ErrorSerializer

from .streams import live_events_after


class Gone(ApplicationError):
    status = 410
    code = "gone"


class LiveEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    event = serializers.CharField(help_text="line, insights, …")
    payload = serializers.DictField()


class CatchupSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    epoch = serializers.IntegerField()
    last_seq = serializers.IntegerField(help_text="The conversation's newest event number.")
    events = LiveEventSerializer(many=True)
    has_more = serializers.BooleanField(help_text="Ask again after the last event returned.")


def _number(request: Request, name: str, *, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or value > 2**62:
        raise ValidationFailed({name: ["A whole number, 0 or more."]})
    return value


class ConversationEventsView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "live-catchup"

    @extend_schema(
        summary="A conversation's live events after a number",
        parameters=[
            OpenApiParameter("after", OpenApiTypes.INT, description="The last number applied"),
            OpenApiParameter("epoch", OpenApiTypes.INT, description="The epoch of that number"),
        ],
        responses={
            200: CatchupSerializer,
            400: OpenApiResponse(ErrorSerializer, description="after or epoch is not a number"),
            404: OpenApiResponse(ErrorSerializer, description="No such conversation for you"),
            410: OpenApiResponse(ErrorSerializer, description="Cannot replay: reload instead"),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        after = _number(request, "after", default=0)
        epoch = _number(request, "epoch", default=None)
        if not conversations.conversations_of(user=request.user).filter(pk=pk).exists():
            raise NotFound("No such conversation.")
        found = live_events_after(pk, after=after or 0, epoch=epoch)
        if found.gone:
            why = {
                "epoch": "The conversation's events were numbered again.",
                "purged": "Those events are no longer kept.",
            }[found.gone]
            raise Gone(
                f"{why} Reload the conversation.",
                extra={"reason": found.gone, "epoch": found.epoch, "last_seq": found.last_seq},
            )
        return Response(
            {
                "conversation": pk,
                "epoch": found.epoch,
                "last_seq": found.last_seq,
                "events": found.events,
                "has_more": found.has_more,
            }
        )


urlpatterns = [
    path(
        "conversations/<int:pk>/events/",
        ConversationEventsView.as_view(),
        name="api-live-conversation-events",
    ),
]
