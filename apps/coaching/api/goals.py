"""The coaching API: goals (list, read, set, edit target or due date, delete) with their frozen
baseline, progress and status, and a session's before/after. Rows come from the scoped
selectors (a goal the caller may not see is a 404); writes are one service call each, whose
errors are clear 4xx JSON (``ccportal.api.exception_handler``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.common.forms import parse_id
from ccportal.viewsets import ErrorSerializer, ScopedReadOnlyViewSet

from ..choices import GoalStatus, Metric
from ..models import CoachingSession, Goal
from ..selectors import before_after
from ..selectors import goals as selectors
from ..services import goals as services

_ERROR = OpenApiResponse(ErrorSerializer, description="Refused; the reason in `detail`.")


class Coaching(BasePermission):
    message = "Coaching is not part of your role."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "coaching")


class ManagesCoaching(BasePermission):
    message = "Only coaches and admins set goals."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "coaching_manage")


class FigureSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)


class GoalSerializer(serializers.ModelSerializer):
    agent = serializers.IntegerField(source="agent_id")
    agent_name = serializers.CharField(source="agent.display_name")
    session = serializers.IntegerField(source="session_id", allow_null=True)
    baseline = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    why = serializers.SerializerMethodField(help_text="The status's reason, in words.")

    class Meta:
        model = Goal
        fields = [
            "id",
            "agent",
            "agent_name",
            "session",
            "metric",
            "criterion_key",
            "target",
            "start_on",
            "due_on",
            "baseline_days",
            "baseline",
            "progress",
            "status",
            "why",
            "met_at",
            "computed_at",
            "created_at",
        ]

    def get_baseline(self, goal: Goal) -> dict[str, Any]:
        start, end = selectors.baseline_window(goal)
        return {"value": goal.baseline, "n": goal.baseline_n, "low": goal.baseline_low,
                "high": goal.baseline_high, "start": start, "end": end}  # fmt: skip

    def get_progress(self, goal: Goal) -> dict[str, Any]:
        start, end = selectors.progress_window(goal)
        return {"value": goal.progress, "n": goal.progress_n, "low": goal.progress_low,
                "high": goal.progress_high, "start": start, "end": end}  # fmt: skip

    def get_why(self, goal: Goal) -> str:
        return selectors.goal_status(goal).why


class GoalWriteSerializer(serializers.Serializer):
    agent = serializers.IntegerField()
    metric = serializers.ChoiceField(choices=Metric.choices)
    criterion_key = serializers.CharField(required=False, allow_blank=True, default="")
    target = serializers.FloatField()
    start_on = serializers.DateField(required=False, allow_null=True, default=None)
    due_on = serializers.DateField()
    session = serializers.IntegerField(required=False, allow_null=True, default=None)
    baseline_days = serializers.IntegerField(required=False, default=30)


class GoalUpdateSerializer(serializers.Serializer):
    target = serializers.FloatField(required=False)
    due_on = serializers.DateField(required=False)


def _goals(*, user: Any) -> Any:
    return selectors.goal_list(user=user)


class GoalViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Goals the caller may see (agents: their own); coaches and admins set, edit and delete
    them for the agents they coach."""

    selector = _goals
    serializer_class = GoalSerializer
    permission_classes = [IsAuthenticated, Coaching]
    ordering_fields = ["due_on", "created_at", "id"]

    def get_permissions(self) -> Sequence[Any]:
        if self.action in ("create", "partial_update", "update", "destroy"):
            return [IsAuthenticated(), ManagesCoaching()]
        return super().get_permissions()

    def get_queryset(self) -> Any:
        goals = super().get_queryset()
        params = self.request.query_params
        if agent := parse_id(params.get("agent")):
            goals = goals.filter(agent_id=agent)
        if params.get("status") in GoalStatus.values:
            goals = goals.filter(status=params["status"])
        return goals

    @extend_schema(
        request=GoalWriteSerializer,
        responses={201: GoalSerializer, 400: _ERROR, 403: _ERROR},
    )
    def create(self, request: Request) -> Response:
        data = GoalWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        goal = services.goal_set(
            user=request.user,
            agent_id=v["agent"],
            metric=v["metric"],
            criterion_key=v["criterion_key"],
            target=v["target"],
            start_on=v["start_on"],
            due_on=v["due_on"],
            session_id=v["session"],
            baseline_days=v["baseline_days"],
        )
        goal = selectors.goal_get(user=request.user, pk=goal.pk) or goal
        return Response(GoalSerializer(goal).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=GoalUpdateSerializer,
        responses={200: GoalSerializer, 400: _ERROR, 403: _ERROR, 404: _ERROR},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = GoalUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        goal = services.goal_update(
            user=request.user,
            goal=self.get_object(),
            target=data.validated_data.get("target"),
            due_on=data.validated_data.get("due_on"),
        )
        return Response(GoalSerializer(goal).data)

    def perform_destroy(self, instance: Goal) -> None:
        services.goal_delete(user=self.request.user, goal=instance)


class BeforeAfterRowSerializer(serializers.Serializer):
    metric = serializers.CharField()
    criterion_key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    before = FigureSerializer()
    after = FigureSerializer()
    change = serializers.FloatField(allow_null=True)
    change_low = serializers.FloatField(allow_null=True)
    change_high = serializers.FloatField(allow_null=True)
    verdict = serializers.CharField(help_text="improved, worse, no_clear_change or no_data")
    words = serializers.CharField()


@extend_schema(
    parameters=[OpenApiParameter("days", int, description="Window length (default 30).")],
    responses={200: BeforeAfterRowSerializer(many=True), 404: _ERROR},
)
@api_view(["GET"])
@permission_classes([IsAuthenticated, Coaching])
def session_before_after(request: Request, pk: int) -> Response:
    """A session's QA score and topics before vs after its date, windows of the same length."""
    session = CoachingSession.objects.for_user(request.user).filter(pk=pk).first()
    if session is None:
        raise NotFound("No such session.")
    days = parse_id(request.query_params.get("days")) or before_after.DEFAULT_DAYS
    rows = before_after.session_before_after(
        user=request.user, session=session, days=min(days, 365)
    )
    return Response(BeforeAfterRowSerializer(rows, many=True).data)


router = SimpleRouter()
router.register("goals", GoalViewSet, basename="coaching-api-goal")

urlpatterns = [
    *router.urls,
    path(
        "sessions/<int:pk>/before-after/",
        session_before_after,
        name="coaching-api-session-before-after",
    ),
]
