"""API of the floor: the snapshot a floor page starts from (and reloads after a reconnect),
alerts, acknowledging one, and tips to the agent on a call.

- ``GET /api/floor/``: every live conversation the caller may watch, as tiles, riskiest first.
- ``GET /api/alerts/``: alerts of the conversations the caller may see (``?status=open``).
- ``POST /api/alerts/<id>/acknowledge/``.
- ``GET|POST /api/conversations/<id>/tips/``: a conversation's tips; send one (floor roles).
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations import selectors as conversations
from ccportal.viewsets import ErrorSerializer

from . import selectors, services


class MayWatch(BasePermission):
    message = "Your role does not watch the floor."

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.may_watch(request.user)


class TileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    team = serializers.CharField()
    agent = serializers.CharField()
    customer = serializers.CharField()
    channel = serializers.CharField()
    mix = serializers.CharField(help_text="HUMAN, AI, HANDOFF or NONE")
    started_at = serializers.DateTimeField(allow_null=True)
    last_line_at = serializers.DateTimeField(allow_null=True)
    lines = serializers.IntegerField()
    sentiment = serializers.ListField(
        child=serializers.FloatField(), help_text="The customer's judged lines, -1..1, in order"
    )
    sentiment_label = serializers.CharField()
    adherence = serializers.DictField(help_text="met, pending, missed, windows still open")
    flags = serializers.IntegerField()
    alerts = serializers.ListField(child=serializers.DictField())
    risk = serializers.IntegerField(help_text="Higher needs attention sooner (see docs/live.md)")


class FloorSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    tiles = TileSerializer(many=True)


class FloorView(APIView):
    permission_classes = [IsAuthenticated, MayWatch]

    @extend_schema(summary="The live floor: tiles of the calls going on now", responses={
        200: FloorSerializer, 403: OpenApiResponse(ErrorSerializer)})  # fmt: skip
    def get(self, request: Request) -> Response:
        tiles = selectors.floor_snapshot(user=request.user)
        return Response({"generated_at": timezone.now().isoformat(), "tiles": tiles})


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    rule = serializers.IntegerField()
    severity = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField()
    count = serializers.IntegerField()
    fired_at = serializers.DateTimeField()
    status = serializers.CharField()
    flag = serializers.IntegerField(allow_null=True)


class AlertListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Alerts of the conversations you may see, newest first (200 at most)",
                   responses={200: AlertSerializer(many=True)})  # fmt: skip
    def get(self, request: Request) -> Response:
        alerts = selectors.alert_list(user=request.user)
        if request.query_params.get("status") in ("open", "acknowledged"):
            alerts = alerts.filter(status=request.query_params["status"])
        return Response([selectors.alert_json(alert) for alert in alerts[:200]])


class AlertAcknowledgeView(APIView):
    permission_classes = [IsAuthenticated, MayWatch]

    @extend_schema(summary="Acknowledge an alert", request=None, responses={
        200: AlertSerializer, 403: OpenApiResponse(ErrorSerializer),
        404: OpenApiResponse(ErrorSerializer)})  # fmt: skip
    def post(self, request: Request, pk: int) -> Response:
        alert = services.alert_acknowledge(user=request.user, alert_id=pk)
        return Response(selectors.alert_json(alert))


class TipSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    conversation = serializers.IntegerField(read_only=True)
    text = serializers.CharField(max_length=5000, allow_blank=True)
    author = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class TipsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="A conversation's tips, oldest first",
        responses={200: TipSerializer(many=True), 404: OpenApiResponse(ErrorSerializer)},
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = conversations.conversation_get(user=request.user, pk=pk)
        tips = selectors.tips_of(conversation_id=conversation.pk)
        return Response([selectors.tip_json(tip) for tip in tips])

    @extend_schema(summary="Send the agent on the call a private tip", request=TipSerializer,
                   responses={201: TipSerializer, 400: OpenApiResponse(ErrorSerializer),
                              403: OpenApiResponse(ErrorSerializer),
                              404: OpenApiResponse(ErrorSerializer)})  # fmt: skip
    def post(self, request: Request, pk: int) -> Response:
        conversation = conversations.conversation_get(user=request.user, pk=pk)
        data = TipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tip = services.tip_send(
            user=request.user,  # type: ignore[arg-type]  # IsAuthenticated
            conversation=conversation,
            text=data.validated_data["text"],
        )
        return Response(selectors.tip_json(tip), status=201)


urlpatterns = [
    path("floor/", FloorView.as_view(), name="api-floor"),
    path("alerts/", AlertListView.as_view(), name="api-alerts"),
    path("alerts/<int:pk>/acknowledge/", AlertAcknowledgeView.as_view(), name="api-alert-ack"),
    path("conversations/<int:pk>/tips/", TipsView.as_view(), name="api-conversation-tips"),
]
