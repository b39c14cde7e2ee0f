"""The coaching API: sessions (plan, change, hold, close, cancel, acknowledge, links, pins),
action items (add, change, tick) and session templates, under /api/coaching/.

Rows come from the scoped selectors (a row the caller may not see is a 404); every write is one
service call whose refusals are clear 4xx JSON. A coach's private notes are serialized only for
those who manage sessions: an agent's answers never carry the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from apps.accounts.scoping import can_use
from apps.conversations import access
from apps.conversations.choices import AccessChannel
from ccportal.viewsets import IdFilter, ScopedReadOnlyViewSet

from ..choices import SessionStatus, TemplateVisibility
from ..models import ActionItem, CoachingSession, SessionTemplate
from ..selectors import sessions as selectors
from ..services import actions as action_services
from ..services import sessions as services
from ..services import templates as template_services


def _feature(name: str, message: str) -> type[BasePermission]:
    class HasFeature(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            self.message = message
            return can_use(request.user, name)

    HasFeature.__name__ = f"Can_{name}"
    return HasFeature


CanCoach = _feature("coaching", "Your role has no coaching.")
CanManage = _feature("coaching_manage", "Only coaches and admins do this.")
CanTemplates = _feature("coaching_templates", "Only coaches and admins use session templates.")


# Serializers ------------------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField(source="__str__")


class AgentBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField(source="display_name")


class SessionSerializer(serializers.ModelSerializer):
    """A session as its agent may read it (no private notes)."""

    agent = AgentBriefSerializer(read_only=True)
    coach = PersonSerializer(read_only=True, allow_null=True)
    open_actions = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = CoachingSession
        fields = [
            "id",
            "agent",
            "coach",
            "title",
            "scheduled_at",
            "status",
            "template",
            "agenda",
            "rubric_version",
            "topics",
            "origin",
            "shared_notes",
            "held_at",
            "closed_at",
            "cancelled_at",
            "acknowledged_at",
            "acknowledgement",
            "follow_up_on",
            "open_actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CoachSessionSerializer(SessionSerializer):
    """A session as coaches and admins read it: with the private notes."""

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "private_notes"]
        read_only_fields = fields


class PinSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pin.pk")
    link = serializers.IntegerField(source="pin.link_id")
    communication = serializers.IntegerField(source="pin.communication_id")
    text = serializers.CharField(source="pin.communication.text")
    speaker = serializers.CharField()
    at = serializers.CharField()
    criterion_key = serializers.CharField(source="pin.criterion_key")
    criterion_name = serializers.CharField()
    comment = serializers.CharField(source="pin.comment")


class LinkSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="link.pk")
    conversation = serializers.IntegerField(source="link.conversation_id")
    review = serializers.IntegerField(source="link.review_id", allow_null=True)
    review_score = serializers.DecimalField(
        source="link.review.score", max_digits=4, decimal_places=1, allow_null=True, default=None
    )
    readable = serializers.BooleanField()
    pins = PinSerializer(many=True)


class ActionItemSerializer(serializers.ModelSerializer):
    owner = PersonSerializer(read_only=True, allow_null=True)
    done = serializers.SerializerMethodField()

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "agent",
            "session",
            "owner",
            "text",
            "due_on",
            "done",
            "done_at",
            "due_notified_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_done(self, item: ActionItem) -> bool:
        return item.done_at is not None


class SessionWriteSerializer(serializers.Serializer):
    agent = serializers.IntegerField(required=False)
    scheduled_at = serializers.DateTimeField(required=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    agenda = serializers.CharField(required=False, allow_blank=True)
    template = serializers.IntegerField(required=False, allow_null=True)
    topics = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    reviews = serializers.ListField(child=serializers.IntegerField(), required=False)
    conversations = serializers.ListField(child=serializers.IntegerField(), required=False)
    private_notes = serializers.CharField(required=False, allow_blank=True)
    shared_notes = serializers.CharField(required=False, allow_blank=True)
    follow_up_on = serializers.DateField(required=False, allow_null=True)


class LinkWriteSerializer(serializers.Serializer):
    review = serializers.IntegerField(required=False)
    conversation = serializers.IntegerField(required=False)


class PinWriteSerializer(serializers.Serializer):
    communication = serializers.IntegerField()
    criterion_key = serializers.CharField(required=False, allow_blank=True, max_length=64)
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Left out: the linked review's comment on the criterion.",
    )


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ActionItemWriteSerializer(serializers.Serializer):
    session = serializers.IntegerField(required=False)
    text = serializers.CharField(required=False, max_length=500)
    owner = serializers.IntegerField(required=False)
    due_on = serializers.DateField(required=False, allow_null=True)


class TickSerializer(serializers.Serializer):
    done = serializers.BooleanField(default=True)


class TemplateSerializer(serializers.ModelSerializer):
    created_by = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = SessionTemplate
        fields = ["id", "name", "agenda", "topics", "visibility", "is_active", "created_by"]
        read_only_fields = ["id", "created_by"]


class TemplateWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    agenda = serializers.CharField(required=False, allow_blank=True, default="")
    topics = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )
    visibility = serializers.ChoiceField(
        choices=TemplateVisibility.choices, default=TemplateVisibility.ALL
    )
    is_active = serializers.BooleanField(required=False, default=True)


# Sessions ---------------------------------------------------------------------------------------


class SessionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SessionStatus.choices)
    agent = IdFilter(field_name="agent__id")
    coach = IdFilter(field_name="coach__id")

    class Meta:
        model = CoachingSession
        fields = ["status", "agent", "coach"]


def _session_list(*, user: Any) -> QuerySet[CoachingSession]:
    return selectors.session_list(user=user)


class SessionViewSet(ScopedReadOnlyViewSet):
    """Coaching sessions: coaches their teams', agents their own."""

    selector = _session_list
    permission_classes = [IsAuthenticated, CanCoach]
    filterset_class = SessionFilter
    ordering_fields = ["scheduled_at", "created_at"]

    def get_serializer_class(self) -> Any:
        if selectors.can_manage(self.request.user):
            return CoachSessionSerializer
        return SessionSerializer

    def get_permissions(self) -> Sequence[Any]:
        if self.action in (
            "create",
            "partial_update",
            "hold",
            "close",
            "cancel",
            "links",
            "unlink",
            "pins",
            "unpin",
        ):
            return [IsAuthenticated(), CanManage()]
        return super().get_permissions()

    def _detail(self, session: CoachingSession, code: int = 200) -> Response:
        fresh = selectors.session_get(user=self.request.user, pk=session.pk)
        page = selectors.session_page(user=self.request.user, session=fresh)
        data = dict(self.get_serializer_class()(fresh).data)
        data["topic_names"] = dict(page.topics)
        data["links"] = LinkSerializer(page.links, many=True).data
        data["action_items"] = ActionItemSerializer(page.actions, many=True).data
        # Pinned lines are transcript text: a logged read of their conversations.
        access.excerpts_read(
            self.request,
            [view.link.conversation_id for view in page.links if view.pins],
            channel=AccessChannel.API,
        )
        return Response(data, status=code)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(self.get_object())

    @extend_schema(request=SessionWriteSerializer, responses={201: CoachSessionSerializer})
    def create(self, request: Request) -> Response:
        incoming = SessionWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        session = services.session_plan(
            user=request.user,
            agent_id=data.get("agent"),
            scheduled_at=data.get("scheduled_at"),
            title=data.get("title", ""),
            agenda=data.get("agenda"),
            template_id=data.get("template"),
            topics=data.get("topics", []),
            origin={"from": "api"},
            review_ids=data.get("reviews", []),
            conversation_ids=data.get("conversations", []),
            follow_up_on=data.get("follow_up_on"),
        )
        return self._detail(session, code=201)

    @extend_schema(
        request=SessionWriteSerializer,
        responses={200: CoachSessionSerializer},
        description="The plan (title, time, agenda, topics) changes while planned; notes while "
        "planned or held; the follow-up until cancelled. Only the fields given change.",
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        session = self.get_object()
        incoming = SessionWriteSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        plan = {k: data[k] for k in ("title", "scheduled_at", "agenda", "topics") if k in data}
        if plan:
            session = services.session_update(user=request.user, session=session, **plan)
        if "private_notes" in data or "shared_notes" in data:
            session = services.session_notes_save(
                user=request.user,
                session=session,
                private_notes=data.get("private_notes"),
                shared_notes=data.get("shared_notes"),
            )
        if "follow_up_on" in data:
            session = services.session_follow_up_set(
                user=request.user, session=session, follow_up_on=data["follow_up_on"]
            )
        return self._detail(session)

    @extend_schema(request=None, responses={200: CoachSessionSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def hold(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(services.session_hold(user=request.user, session=self.get_object()))

    @extend_schema(request=None, responses={200: CoachSessionSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def close(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(services.session_close(user=request.user, session=self.get_object()))

    @extend_schema(request=None, responses={200: CoachSessionSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(services.session_cancel(user=request.user, session=self.get_object()))

    @extend_schema(request=CommentSerializer, responses={200: SessionSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        incoming = CommentSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        session = services.session_acknowledge(
            user=request.user,
            session=self.get_object(),
            comment=incoming.validated_data.get("comment", ""),
        )
        return self._detail(session)

    @extend_schema(request=LinkWriteSerializer, responses={201: CoachSessionSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def links(self, request: Request, pk: str | None = None) -> Response:
        session = self.get_object()  # first: a session out of scope is a 404, whatever the body
        incoming = LinkWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.session_link_add(
            user=request.user,
            session=session,
            review_id=incoming.validated_data.get("review"),
            conversation_id=incoming.validated_data.get("conversation"),
        )
        return self._detail(session, code=201)

    @extend_schema(request=None, responses={200: CoachSessionSerializer})
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"links/(?P<link_pk>[0-9]+)",
        filter_backends=[],
    )
    def unlink(self, request: Request, pk: str | None = None, link_pk: str = "") -> Response:
        session = self.get_object()
        services.session_link_remove(user=request.user, session=session, link_id=int(link_pk))
        return self._detail(session)

    @extend_schema(request=PinWriteSerializer, responses={201: CoachSessionSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def pins(self, request: Request, pk: str | None = None) -> Response:
        # First: a session out of scope is a 404 whatever the body (it was a 400 for a bad body,
        # telling the caller the session exists: found by tests/common/test_role_matrix.py).
        session = self.get_object()
        incoming = PinWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        services.evidence_pin_add(
            user=request.user,
            session=session,
            communication_id=data["communication"],
            criterion_key=data.get("criterion_key", ""),
            comment=data.get("comment"),
        )
        return self._detail(session, code=201)

    @extend_schema(request=None, responses={200: CoachSessionSerializer})
    @action(
        detail=True, methods=["delete"], url_path=r"pins/(?P<pin_pk>[0-9]+)", filter_backends=[]
    )
    def unpin(self, request: Request, pk: str | None = None, pin_pk: str = "") -> Response:
        session = self.get_object()
        services.evidence_pin_remove(user=request.user, session=session, pin_id=int(pin_pk))
        return self._detail(session)


# Action items -----------------------------------------------------------------------------------


class ActionItemFilter(django_filters.FilterSet):
    session = IdFilter(field_name="session__id")
    agent = IdFilter(field_name="agent__id")
    open = django_filters.BooleanFilter(field_name="done_at", lookup_expr="isnull")

    class Meta:
        model = ActionItem
        fields = ["session", "agent", "open"]


def _action_list(*, user: Any) -> QuerySet[ActionItem]:
    return selectors.action_item_list(user=user)


class ActionItemViewSet(ScopedReadOnlyViewSet):
    """Action items: agreed in sessions; ticked by their owner or a coach."""

    selector = _action_list
    serializer_class = ActionItemSerializer
    permission_classes = [IsAuthenticated, CanCoach]
    filterset_class = ActionItemFilter
    ordering_fields = ["due_on", "created_at"]

    def get_permissions(self) -> Sequence[Any]:
        if self.action in ("create", "partial_update"):
            return [IsAuthenticated(), CanManage()]
        return super().get_permissions()

    @extend_schema(request=ActionItemWriteSerializer, responses={201: ActionItemSerializer})
    def create(self, request: Request) -> Response:
        incoming = ActionItemWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        if "session" not in data or "text" not in data:
            raise serializers.ValidationError(
                {
                    name: ["This field is required."]
                    for name in ("session", "text")
                    if name not in data
                }
            )
        session = selectors.session_get(user=request.user, pk=data["session"])
        item = action_services.action_item_add(
            user=request.user,
            session=session,
            text=data["text"],
            owner_id=data.get("owner"),
            due_on=data.get("due_on"),
        )
        return Response(ActionItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ActionItemWriteSerializer, responses={200: ActionItemSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        incoming = ActionItemWriteSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        extra: dict[str, Any] = {}
        if "due_on" in data:
            extra["due_on"] = data["due_on"]
        item = action_services.action_item_update(
            user=request.user,
            item=item,
            text=data.get("text"),
            owner_id=data.get("owner"),
            **extra,
        )
        return Response(ActionItemSerializer(item).data)

    @extend_schema(request=TickSerializer, responses={200: ActionItemSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def tick(self, request: Request, pk: str | None = None) -> Response:
        incoming = TickSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        item = action_services.action_item_tick(
            user=request.user, item=self.get_object(), done=incoming.validated_data["done"]
        )
        return Response(ActionItemSerializer(item).data)


# Templates --------------------------------------------------------------------------------------


def _template_list(*, user: Any) -> QuerySet[SessionTemplate]:
    return selectors.template_list(user=user, active_only=False).order_by("name", "id")


class TemplateViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Session templates: those the caller may use (their own, their teams' coaches', all)."""

    selector = _template_list
    serializer_class = TemplateSerializer
    permission_classes = [IsAuthenticated, CanTemplates]

    @extend_schema(request=TemplateWriteSerializer, responses={201: TemplateSerializer})
    def create(self, request: Request) -> Response:
        incoming = TemplateWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        data.pop("is_active", None)
        template = template_services.template_create(user=request.user, **data)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TemplateWriteSerializer, responses={200: TemplateSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        incoming = TemplateWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        template = template_services.template_update(
            user=request.user, template=template, **incoming.validated_data
        )
        return Response(TemplateSerializer(template).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        template_services.template_delete(user=request.user, template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


router = SimpleRouter()
router.register("sessions", SessionViewSet, basename="api-coaching-session")
router.register("action-items", ActionItemViewSet, basename="api-coaching-action-item")
router.register("templates", TemplateViewSet, basename="api-coaching-template")

urlpatterns = [*router.urls]
