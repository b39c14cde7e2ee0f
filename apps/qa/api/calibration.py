"""API of calibration sessions under /api/qa/calibration/: list and read them (participants
their own, admins all), create and close them, read the results, set the benchmark (admins).
Rows come from the scoped selectors; the results follow the pages' rule
(``selectors.calibration.results_visible``): a blind session's answers stay hidden from the
participants until it closes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.errors import PermissionDenied
from apps.common.forms import parse_id
from ccportal.viewsets import ErrorSerializer, ScopedReadOnlyViewSet

from ..choices import BenchmarkMode
from ..models import CalibrationSession
from ..selectors import calibration
from ..services import calibration as services
from .views import CanReview, _feature

CanRunCalibration = _feature("qa_calibration_admin", "Only admins run calibration sessions.")

_ERROR = OpenApiResponse(ErrorSerializer, description="Refused; the reason in `detail`.")


class CalibrationSessionSerializer(serializers.ModelSerializer):
    rubric_version = serializers.IntegerField(source="rubric_version_id")
    expert = serializers.IntegerField(source="expert_id", allow_null=True)
    conversation_count = serializers.IntegerField()
    participant_count = serializers.IntegerField()
    answered_count = serializers.IntegerField(help_text="Answers submitted, all participants.")

    class Meta:
        model = CalibrationSession
        fields = [
            "id",
            "name",
            "description",
            "status",
            "blind",
            "include_ai",
            "deadline",
            "benchmark_mode",
            "expert",
            "rubric_version",
            "conversation_count",
            "participant_count",
            "answered_count",
            "created_at",
            "closed_at",
            "discussion",
        ]


class ProgressSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user.pk")
    name = serializers.CharField(source="user")
    answered = serializers.IntegerField()
    total = serializers.IntegerField()
    items = serializers.SerializerMethodField()

    def get_items(self, row: Any) -> list[int]:
        return [item.pk for item in row.items]


class CalibrationDetailSerializer(CalibrationSessionSerializer):
    conversations = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    results_visible = serializers.SerializerMethodField()

    class Meta(CalibrationSessionSerializer.Meta):
        fields = [*CalibrationSessionSerializer.Meta.fields, "conversations", "progress",
                  "results_visible"]  # fmt: skip

    def get_conversations(self, session: CalibrationSession) -> list[int]:
        return [c.conversation_id for c in session.session_conversations.all()]

    def get_progress(self, session: CalibrationSession) -> list[dict[str, Any]]:
        return ProgressSerializer(calibration.session_progress(session), many=True).data  # type: ignore[return-value]

    def get_results_visible(self, session: CalibrationSession) -> bool:
        return calibration.results_visible(session, self.context["request"].user)


class CalibrationWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    rubric_version = serializers.IntegerField()
    conversations = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    participants = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    blind = serializers.BooleanField(default=True)
    include_ai = serializers.BooleanField(default=True)
    deadline = serializers.DateTimeField(required=False, allow_null=True, default=None)
    benchmark_mode = serializers.ChoiceField(
        choices=BenchmarkMode.choices, default=BenchmarkMode.CONSENSUS
    )
    expert = serializers.IntegerField(required=False, allow_null=True, default=None)


class CloseSerializer(serializers.Serializer):
    discussion = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class BenchmarkChangeSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    key = serializers.CharField(
        max_length=200, help_text="SEGMENT:criterion, e.g. HUMAN_AGENT:greeting"
    )
    outcome = serializers.CharField(max_length=10, help_text="MET, NOT_MET or NA.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class BenchmarkSerializer(serializers.Serializer):
    changes = BenchmarkChangeSerializer(many=True, allow_empty=False)


def results_data(results: calibration.Results) -> dict[str, Any]:
    """The results as JSON: raters by key ("ai" for the AI, else the user id)."""
    return {
        "reference": results.reference,
        "benchmark_count": results.benchmark_count,
        "raters": [{"key": r.key, "name": r.name} for r in results.raters],
        "criteria": [
            {
                "key": c.key,
                "name": c.name,
                "n": c.units,
                "pairs": c.pairs,
                "agreement": c.agreement,
                "fleiss_kappa": c.fleiss,
                "fleiss_n": c.fleiss_units,
                "krippendorff_alpha": c.alpha,
                "few": c.few,
            }
            for c in results.criteria
        ],
        "most_disputed": [c.key for c in results.disputed],
        "alignment": [
            {
                "rater": a.rater.key,
                "n": a.n,
                "agreement": a.agreement,
                "kappa": a.kappa,
                "kappa_low": a.low,
                "kappa_high": a.high,
                "few": a.few,
                "mean_score_delta": a.mean_delta,
                "stricter": a.stricter,
                "lenient": a.lenient,
            }
            for a in results.alignment
        ],
        "strictest": results.strictest.rater.key if results.strictest else None,
        "most_lenient": results.most_lenient.rater.key if results.most_lenient else None,
        "answers": [
            {
                "conversation": conv.entry.conversation_id,
                "rows": [
                    {
                        "key": row.key,
                        "answers": dict(
                            zip([str(r.key) for r in results.raters], row.answers, strict=True)
                        ),
                        "benchmark": row.benchmark,
                        "note": row.note,
                        "disputed": row.disputed,
                    }
                    for row in conv.rows
                ],
            }
            for conv in results.grid
        ],
    }


class CalibrationSessionViewSet(ScopedReadOnlyViewSet):
    """Calibration sessions: participants read theirs, admins run them."""

    selector = calibration.session_list
    serializer_class = CalibrationSessionSerializer
    permission_classes = [IsAuthenticated, CanReview]
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        status = self.request.query_params.get("status", "")
        return calibration.session_list(user=self.request.user, status=status)

    def get_permissions(self) -> Sequence[Any]:
        if self.action in ("create", "close", "benchmark"):
            return [IsAuthenticated(), CanRunCalibration()]
        return super().get_permissions()

    def _session(self, pk: str | None) -> CalibrationSession:
        return calibration.session_get(user=self.request.user, pk=parse_id(pk) or 0)

    @extend_schema(summary="A calibration session", responses={200: CalibrationDetailSerializer})
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        session = self._session(pk)
        return Response(CalibrationDetailSerializer(session, context={"request": request}).data)

    @extend_schema(
        summary="Start a calibration session",
        request=CalibrationWriteSerializer,
        responses={201: CalibrationDetailSerializer, 400: _ERROR, 403: _ERROR},
    )
    def create(self, request: Request) -> Response:
        incoming = CalibrationWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        session = services.calibration_session_create(
            user=request.user,
            data=services.SessionInput(
                name=data["name"],
                description=data["description"],
                rubric_version_id=data["rubric_version"],
                conversation_ids=data["conversations"],
                participant_ids=data["participants"],
                blind=data["blind"],
                include_ai=data["include_ai"],
                deadline=data["deadline"],
                benchmark_mode=data["benchmark_mode"],
                expert_id=data["expert"],
            ),
        )
        return Response(
            CalibrationDetailSerializer(
                self._session(str(session.pk)), context={"request": request}
            ).data,
            status=201,
        )

    @extend_schema(
        summary="Close a calibration session",
        description="Final: unanswered items leave the queue; the benchmark is prefilled.",
        request=CloseSerializer,
        responses={200: CalibrationDetailSerializer, 403: _ERROR, 404: _ERROR, 409: _ERROR},
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        incoming = CloseSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.calibration_session_close(
            user=request.user,
            session=self._session(pk),
            discussion=incoming.validated_data.get("discussion"),
        )
        return Response(
            CalibrationDetailSerializer(self._session(pk), context={"request": request}).data
        )

    @extend_schema(
        summary="A calibration session's results",
        description="Agreement per criterion, alignment with the benchmark, the answer grid. "
        "403 while a blind session is open (except for admins who do not take part).",
        responses={200: OpenApiResponse(description="The results"), 403: _ERROR, 404: _ERROR},
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str | None = None) -> Response:
        session = self._session(pk)
        if not calibration.results_visible(session, request.user):
            raise PermissionDenied("A blind session's answers are hidden until it closes.")
        return Response(results_data(calibration.session_results(session)))

    @extend_schema(
        summary="Set benchmark answers",
        description="After the session closes; each change with an optional note.",
        request=BenchmarkSerializer,
        responses={
            200: OpenApiResponse(description="How many changed"),
            400: _ERROR,
            403: _ERROR,
            404: _ERROR,
            409: _ERROR,
        },
    )
    @action(detail=True, methods=["post"])
    def benchmark(self, request: Request, pk: str | None = None) -> Response:
        incoming = BenchmarkSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        changed = services.calibration_benchmark_set(
            user=request.user,
            session=self._session(pk),
            changes=[
                services.BenchmarkChange(
                    conversation_id=c["conversation"],
                    key=c["key"],
                    outcome=c["outcome"],
                    note=c["note"],
                )
                for c in incoming.validated_data["changes"]
            ],
        )
        return Response({"changed": changed})
