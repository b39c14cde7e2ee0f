"""API of the QA workflow under /api/qa/: the queue, sampling policies, reviews, disputes.

Who may do what is the pages' rule (``apps.accounts.scoping.FEATURES``): reviewers (admins, QA
analysts, coaches for their teams) work the queue and write reviews; admins manage policies and
reassign or remove items; supervisors read their teams' reviews; agents read, acknowledge and
dispute their own released reviews; disputes are decided by admins and QA analysts other than
the reviewer. Rows come from the scoped selectors (a row the caller may not see is a 404);
every write is one service call, whose errors are clear 4xx JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import can_use
from apps.common.errors import ValidationFailed
from apps.common.forms import parse_id
from apps.common.pagination import CountedRowsByIdPaginator, RowsByIdPaginator
from ccportal.api import Pagination
from ccportal.viewsets import ErrorSerializer, IdFilter, ScopedReadOnlyViewSet

from .. import selectors, services
from ..choices import ACTIVE_ITEM_STATUSES, DisputeStatus, ItemSource, ItemStatus, ReviewStatus
from ..models import Dispute, QueueItem, Review
from .serializers import (
    AcknowledgeSerializer,
    AiScoreSerializer,
    AiScoreSummarySerializer,
    DisagreementSerializer,
    DisputeDecideSerializer,
    DisputeOpenSerializer,
    DisputeSerializer,
    PreviewSerializer,
    QueueItemSendSerializer,
    QueueItemSerializer,
    ReasonSerializer,
    ReassignSerializer,
    ReviewDetailSerializer,
    ReviewSerializer,
    ReviewStartSerializer,
    ReviewWriteSerializer,
    ReviseSerializer,
    RevisionSerializer,
    RunResultSerializer,
    SamplingPolicySerializer,
    SamplingPolicyWriteSerializer,
    TrustChangeSerializer,
    VersionAgreementSerializer,
)

_NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="No such row, or not one the caller may see."
)
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Not a role that may do this.")
_INVALID = OpenApiResponse(
    ErrorSerializer, description="Nothing was written; the problems by field in `extra.errors`."
)
_CONFLICT = OpenApiResponse(ErrorSerializer, description="Not in a state that allows it.")
_ITEM_WRITTEN = {
    200: QueueItemSerializer,
    400: _INVALID,
    403: _FORBIDDEN,
    404: _NOT_FOUND,
    409: _CONFLICT,
}


def _feature(name: str, message: str) -> type[BasePermission]:
    class HasFeature(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            self.message = message
            return can_use(request.user, name)

    HasFeature.__name__ = f"Can_{name}"
    return HasFeature


CanReview = _feature("qa_review", "Your role does not review conversations.")
CanManage = _feature("qa_manage", "Only admins do this.")
CanSend = _feature("qa_send", "Your role may not send conversations to QA.")
CanDecide = _feature("qa_decide", "Disputes are decided by admins and QA analysts.")
CanDispute = _feature("qa_my_reviews", "Only the agent of a review acknowledges or disputes it.")


class ReadsReviews(BasePermission):
    message = "Your role does not include QA reviews."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "qa_reviews") or can_use(request.user, "qa_my_reviews")


# Queue ------------------------------------------------------------------------------------------


class QueueItemFilter(django_filters.FilterSet):
    tab = django_filters.ChoiceFilter(
        choices=[("mine", "mine"), ("pool", "pool"), ("all", "all")],
        method="filter_tab",
        help_text="mine: assigned to or claimed by you and not finished; pool: open and "
        "assigned to nobody; all (default): every item you may see.",
    )
    source = django_filters.ChoiceFilter(choices=ItemSource.choices)
    status = django_filters.ChoiceFilter(choices=ItemStatus.choices)
    priority = django_filters.NumberFilter()
    team = IdFilter(field_name="conversation__team__id")
    agent = IdFilter(field_name="agent__id")
    policy = IdFilter(field_name="policy__id")
    conversation = IdFilter(field_name="conversation__id")
    overdue = django_filters.BooleanFilter(method="filter_overdue")
    q = django_filters.CharFilter(
        method="filter_q", max_length=200, help_text="Customer, agent or reason."
    )

    class Meta:
        model = QueueItem
        fields: list[str] = []

    def filter_tab(self, items: QuerySet[QueueItem], name: str, value: str) -> QuerySet[QueueItem]:
        user = self.request.user
        if value == "mine":
            return items.filter(
                Q(assignee_id=user.pk) | Q(claimed_by_id=user.pk), status__in=ACTIVE_ITEM_STATUSES
            )
        if value == "pool":
            return items.filter(status=ItemStatus.OPEN, assignee__isnull=True)
        return items

    def filter_overdue(
        self, items: QuerySet[QueueItem], name: str, value: bool | None
    ) -> QuerySet[QueueItem]:
        if value is None:
            return items
        late = Q(status__in=ACTIVE_ITEM_STATUSES, due_at__lt=timezone.now())
        return items.filter(late) if value else items.exclude(late)

    def filter_q(self, items: QuerySet[QueueItem], name: str, value: str) -> QuerySet[QueueItem]:
        value = value.strip()
        if not value:
            return items
        return items.filter(
            Q(conversation__name__icontains=value)
            | Q(reason__icontains=value)
            | Q(agent__display_name__icontains=value)
        )


class _ItemPaginator(CountedRowsByIdPaginator):
    def __init__(self, object_list: Any, per_page: int, **kwargs: Any) -> None:
        super().__init__(
            object_list, per_page, rows=lambda ids: selectors.item_rows(ids=ids), **kwargs
        )


class ItemPagination(Pagination):
    """The API's page numbers; the scoped list's count and a page's ids in one query (a
    coach's scope is the costly part, read once), then the page's rows by id
    (``CountedRowsByIdPaginator``)."""

    django_paginator_class = _ItemPaginator


@extend_schema_view(
    list=extend_schema(
        summary="List queue items", responses={200: QueueItemSerializer(many=True), 403: _FORBIDDEN}
    ),
    retrieve=extend_schema(
        summary="Get a queue item",
        responses={200: QueueItemSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class QueueItemViewSet(ScopedReadOnlyViewSet):
    """The QA queue: conversations to review, and why (flags, sampling, by hand)."""

    selector = selectors.item_base
    pagination_class = ItemPagination
    serializer_class = QueueItemSerializer
    permission_classes = [IsAuthenticated, CanReview]
    filterset_class = QueueItemFilter
    ordering_fields = ["priority", "due_at", "created_at"]
    ordering = ["-priority", "due_at", "id"]

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [IsAuthenticated(), CanSend()]
        return super().get_permissions()

    def _item(self, item: QueueItem) -> dict[str, Any]:
        """The item as the caller now sees it."""
        return QueueItemSerializer(selectors.item_get(user=self.request.user, pk=item.pk)).data

    @extend_schema(
        summary="Send a conversation to QA",
        description="A manual item (one open per conversation); `assignee` gives it to a reviewer.",
        request=QueueItemSendSerializer,
        responses={
            201: QueueItemSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    def create(self, request: Request) -> Response:
        incoming = QueueItemSendSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        item = services.queue_item_send(
            user=request.user,
            conversation_id=data["conversation"],
            reason=data["reason"],
            priority=data["priority"],
            due_at=data.get("due_at"),
            assignee_id=data.get("assignee"),
        )
        # A supervisor may send a conversation to QA without working the queue: the answer is
        # the item they made, not a read through the reviewers' scope.
        return Response(QueueItemSerializer(item).data, status=201)

    @extend_schema(
        summary="Claim the next item",
        description="Yours first, then the pool's; the most urgent, earliest due, oldest. Two "
        "reviewers asking at once never get the same item. `POST /api/qa/reviews/` with the "
        "item then starts its review. 204 when there is nothing to claim.",
        request=None,
        responses={200: QueueItemSerializer, 204: None, 403: _FORBIDDEN, 409: _CONFLICT},
    )
    @action(detail=False, methods=["post"], url_path="claim-next", filter_backends=[])
    def claim_next(self, request: Request) -> Response:
        item = services.queue_claim_next(user=request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self._item(item))

    @extend_schema(
        summary="Claim an item",
        request=None,
        responses={200: QueueItemSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def claim(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        services.queue_item_claim(user=request.user, item_id=item.pk)
        return Response(self._item(item))

    @extend_schema(
        summary="Put a claimed item back",
        description="Its draft review is discarded.",
        request=None,
        responses={200: QueueItemSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def unclaim(self, request: Request, pk: str | None = None) -> Response:
        item = services.queue_item_unclaim(user=request.user, item=self.get_object())
        return Response(self._item(item))

    @extend_schema(
        summary="Reassign an item",
        description="Admins; with a reason. A claimed item's draft goes with it.",
        request=ReassignSerializer,
        responses=_ITEM_WRITTEN,
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, CanManage],
        filter_backends=[],
    )
    def reassign(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        incoming = ReassignSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.queue_item_reassign(
            user=request.user,
            item=item,
            assignee_id=incoming.validated_data["assignee"],
            reason=incoming.validated_data["reason"],
        )
        return Response(self._item(item))

    @extend_schema(
        summary="Remove an item",
        description="Admins; with a reason, which also resolves its flag.",
        request=ReasonSerializer,
        responses=_ITEM_WRITTEN,
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, CanManage],
        filter_backends=[],
    )
    def remove(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.queue_item_remove(
            user=request.user, item=item, reason=incoming.validated_data["reason"]
        )
        return Response(self._item(item))


# Sampling policies -------------------------------------------------------------------------------


def _preview_data(picking: services.Picking, spec: services.PolicySpec) -> dict[str, Any]:
    return {
        "period": picking.window.key,
        "matching": picking.matching,
        "already": picking.already,
        "agents": picking.agents,
        "truncated": len(picking.picks) > services.PREVIEW_LIMIT,
        "picks": [
            {
                "conversation": p.conversation_id,
                "agent": p.agent_id,
                "rank": p.rank,
                "target": p.target,
                "population": p.population,
                "reason": services.reason_for(spec, p),
            }
            for p in picking.picks[: services.PREVIEW_LIMIT]
        ],
    }


@extend_schema_view(
    list=extend_schema(
        summary="List sampling policies",
        responses={200: SamplingPolicySerializer(many=True), 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="Get a sampling policy",
        responses={200: SamplingPolicySerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class SamplingPolicyViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Sampling policies: reviewers read them, admins write and run them."""

    selector = selectors.policy_list
    serializer_class = SamplingPolicySerializer
    permission_classes = [IsAuthenticated, CanReview]
    filter_backends: list[Any] = []

    def get_permissions(self) -> Sequence[Any]:
        if self.action in (
            "create",
            "update",
            "partial_update",
            "destroy",
            "run",
            "preview",
            "preview_new",
        ):
            return [IsAuthenticated(), CanManage()]
        return super().get_permissions()

    @extend_schema(
        summary="Create a sampling policy",
        request=SamplingPolicyWriteSerializer,
        responses={201: SamplingPolicySerializer, 400: _INVALID, 403: _FORBIDDEN},
    )
    def create(self, request: Request) -> Response:
        incoming = SamplingPolicyWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        policy = services.policy_create(user=request.user, data=dict(incoming.validated_data))
        return Response(
            SamplingPolicySerializer(selectors.policy_get(user=request.user, pk=policy.pk)).data,
            status=201,
        )

    @extend_schema(
        summary="Replace a sampling policy",
        request=SamplingPolicyWriteSerializer,
        responses={200: SamplingPolicySerializer, 400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    def update(self, request: Request, pk: str | None = None, partial: bool = False) -> Response:
        policy = self.get_object()
        incoming = SamplingPolicyWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.policy_update(user=request.user, policy=policy, data=dict(incoming.validated_data))
        return Response(
            SamplingPolicySerializer(selectors.policy_get(user=request.user, pk=policy.pk)).data
        )

    @extend_schema(
        summary="Delete a sampling policy",
        description="Its items stay in the queue.",
        responses={204: None, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.policy_delete(user=request.user, policy=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="qa_policies_preview_new",
        summary="Preview a policy before saving it",
        description="What it would pick now; nothing is written.",
        request=SamplingPolicyWriteSerializer,
        responses={200: PreviewSerializer, 400: _INVALID, 403: _FORBIDDEN},
    )
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_new(self, request: Request) -> Response:
        incoming = SamplingPolicyWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        spec = services.policy_spec_clean(dict(incoming.validated_data))
        return Response(
            _preview_data(services.policy_pick(spec, limit=services.PREVIEW_LIMIT + 1), spec)
        )

    @extend_schema(
        operation_id="qa_policies_preview_saved",
        summary="Preview a saved policy",
        description="What a run would pick now; nothing is written.",
        request=None,
        responses={200: PreviewSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        spec = services.spec_of(self.get_object())
        return Response(
            _preview_data(services.policy_pick(spec, limit=services.PREVIEW_LIMIT + 1), spec)
        )

    @extend_schema(
        summary="Run a policy now",
        description="Safe to repeat: one item per conversation, policy and period.",
        request=None,
        responses={200: RunResultSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        result = services.policy_run(policy_id=self.get_object().pk, user=request.user)
        return Response(
            {
                "policy": result.policy_id,
                "period": result.period,
                "created": result.created,
                "matching": result.matching,
                "already": result.already,
                "to_pool": result.to_pool,
                "assigned": {str(k): v for k, v in result.assigned.items()},
            }
        )


# Reviews ----------------------------------------------------------------------------------------


class ReviewFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ReviewStatus.choices)
    agent = IdFilter(field_name="agent__id")
    reviewer = IdFilter(field_name="reviewer__id")
    conversation = IdFilter(field_name="conversation__id")
    team = IdFilter(field_name="conversation__team__id")

    class Meta:
        model = Review
        fields: list[str] = []


class _ReviewPaginator(RowsByIdPaginator):
    def __init__(self, object_list: Any, per_page: int, **kwargs: Any) -> None:
        super().__init__(
            object_list, per_page, rows=lambda ids: selectors.review_rows(ids=ids), **kwargs
        )


class ReviewPagination(Pagination):
    """The API's page numbers; a page's rows are read by id (``RowsByIdPaginator``)."""

    django_paginator_class = _ReviewPaginator


@extend_schema_view(
    list=extend_schema(
        summary="List reviews",
        description="Agents get their own released reviews only.",
        responses={200: ReviewSerializer(many=True), 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="Get a review",
        description="With its answers, the AI's suggestions and the scores.",
        responses={200: ReviewDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class ReviewViewSet(ScopedReadOnlyViewSet):
    """QA reviews: started from queue items, drafted, submitted, revised, released, acknowledged."""

    selector = selectors.review_base
    pagination_class = ReviewPagination
    serializer_class = ReviewSerializer
    permission_classes = [IsAuthenticated, ReadsReviews]
    filterset_class = ReviewFilter
    ordering_fields = ["submitted_at", "score", "created_at"]
    ordering = ["-created_at", "-id"]

    def get_serializer_class(self) -> Any:
        return ReviewDetailSerializer if self.action != "list" else ReviewSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if self.action != "list":
            return super().get_queryset()
        # Counted and paged by id; the page's rows come adorned (ReviewPagination).
        reviews = selectors.review_scope(user=self.request.user)
        if not can_use(self.request.user, "qa_review"):
            reviews = reviews.filter(is_calibration=False)
        return reviews

    def get_permissions(self) -> Sequence[Any]:
        if self.action in ("create", "answers", "submit", "revise", "release"):
            return [IsAuthenticated(), CanReview()]
        if self.action == "acknowledge":
            return [IsAuthenticated(), CanDispute()]
        return super().get_permissions()

    def _detail(self, review: Review, code: int = 200) -> Response:
        fresh = selectors.review_get(user=self.request.user, pk=review.pk)
        return Response(ReviewDetailSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Start the review of a queue item",
        description="Claims the item (if it is not yours already) and starts its review, "
        "prefilled with the AI's answers.",
        request=ReviewStartSerializer,
        responses={201: ReviewDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    def create(self, request: Request) -> Response:
        incoming = ReviewStartSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        item = services.queue_item_claim(user=request.user, item_id=incoming.validated_data["item"])
        review = services.review_start(item=item, reviewer=request.user)
        return self._detail(review, code=201)

    @extend_schema(
        summary="Save a draft's answers",
        description="Only the parts given change.",
        request=ReviewWriteSerializer,
        responses={
            200: ReviewDetailSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    @action(detail=True, methods=["post", "patch"], filter_backends=[])
    def answers(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_object()
        incoming = ReviewWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        review = services.review_draft_save(
            user=request.user, review=review, **_write(incoming.validated_data)
        )
        return self._detail(review)

    @extend_schema(
        summary="Submit a review",
        description="With any last changes. Every criterion answered, every change of the AI's "
        "answer commented.",
        request=ReviewWriteSerializer,
        responses={
            200: ReviewDetailSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_object()
        incoming = ReviewWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        review = services.review_submit(
            user=request.user, review=review, **_write(incoming.validated_data)
        )
        return self._detail(review)

    @extend_schema(
        summary="Revise a submitted review",
        description="A new revision with a reason; the earlier ones are kept.",
        request=ReviseSerializer,
        responses={
            200: ReviewDetailSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def revise(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_object()
        incoming = ReviseSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        review = services.review_revise(
            user=request.user, review=review, reason=data["reason"], **_write(data)
        )
        return self._detail(review)

    @extend_schema(
        summary="Release a review to its agent now",
        request=None,
        responses={200: ReviewDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def release(self, request: Request, pk: str | None = None) -> Response:
        review = services.review_release(user=request.user, review=self.get_object())
        return self._detail(review)

    @extend_schema(
        summary="Acknowledge a review (its agent)",
        request=AcknowledgeSerializer,
        responses={200: ReviewDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_object()
        incoming = AcknowledgeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        review = services.review_acknowledge(
            user=request.user, review=review, comment=incoming.validated_data.get("comment", "")
        )
        return self._detail(review)

    @extend_schema(
        summary="A review's revisions",
        description="Oldest first, each with its answers.",
        responses={200: RevisionSerializer(many=True), 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        review = selectors.review_get(user=request.user, pk=self.get_object().pk)
        return Response(RevisionSerializer(review.revisions.all(), many=True).data)


def _write(data: dict[str, Any]) -> dict[str, Any]:
    answers = {
        key: {part: value for part, value in answer.items()}
        for key, answer in (data.get("answers") or {}).items()
    }
    return {
        "answers": answers,
        "strengths": data.get("strengths"),
        "improvements": data.get("improvements"),
    }


# Disputes ----------------------------------------------------------------------------------------


class DisputeFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DisputeStatus.choices)
    review = IdFilter(field_name="review__id")

    class Meta:
        model = Dispute
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="List disputes", responses={200: DisputeSerializer(many=True), 403: _FORBIDDEN}
    ),
    retrieve=extend_schema(
        summary="Get a dispute",
        responses={200: DisputeSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class DisputeViewSet(ScopedReadOnlyViewSet):
    """Agents' disputes of their reviews, and the decisions."""

    selector = lambda *, user: selectors.dispute_list(user=user, status="")  # noqa: E731
    serializer_class = DisputeSerializer
    permission_classes = [IsAuthenticated, ReadsReviews]
    filterset_class = DisputeFilter
    ordering_fields = ["created_at", "decided_at"]
    ordering = ["-created_at", "-id"]

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [IsAuthenticated(), CanDispute()]
        if self.action == "decide":
            return [IsAuthenticated(), CanDecide()]
        return super().get_permissions()

    @extend_schema(
        summary="Dispute a review (its agent)",
        description="Within the window after release; criteria with proposed outcomes, or the "
        "whole review with a proposal; a reason is required.",
        request=DisputeOpenSerializer,
        responses={
            201: DisputeSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    def create(self, request: Request) -> Response:
        incoming = DisputeOpenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        review = selectors.review_get(user=request.user, pk=data["review"])
        dispute = services.dispute_open(
            user=request.user,
            review=review,
            reason=data["reason"],
            items=[dict(item) for item in data.get("items") or []],
            proposal=data.get("proposal", ""),
        )
        return Response(DisputeSerializer(self.get_queryset().get(pk=dispute.pk)).data, status=201)

    @extend_schema(
        summary="Decide a dispute",
        description="An admin or a QA analyst other than the reviewer. A change makes a new "
        "revision of the review.",
        request=DisputeDecideSerializer,
        responses={
            200: DisputeSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        dispute = self.get_object()
        incoming = DisputeDecideSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        services.dispute_decide(
            user=request.user,
            dispute=dispute,
            decision=data["decision"],
            reason=data["reason"],
            outcomes=data.get("outcomes") or {},
        )
        return Response(DisputeSerializer(self.get_queryset().get(pk=dispute.pk)).data)


# Statistics: the AI as a rater, trust tiers, the AI score -----------------------------------------

CanSeeStats = _feature("qa_stats", "Your role does not read QA statistics.")
_VERSION_PARAM = OpenApiParameter(
    "version", int, description="A published or retired rubric version's id", required=True
)


def _stats_version(request: Request) -> Any:
    from apps.common.errors import NotFound, ValidationFailed
    from apps.rubrics import selectors as rubrics

    version_id = parse_id(request.query_params.get("version", ""))
    if version_id is None:
        raise ValidationFailed({"version": ["Give a rubric version's id."]})
    version = rubrics.version_by_id(pk=version_id)
    if version is None or version.status == "DRAFT":
        raise NotFound("No such published or retired rubric version.")
    return version


class AgreementView(APIView):
    """The AI against people per criterion of one version: kappa with its bootstrap interval,
    percent agreement, n, the few-pairs warning, the confusion, the tier; the latest changes."""

    permission_classes = [IsAuthenticated, CanSeeStats]

    @extend_schema(
        summary="AI-human agreement per criterion",
        parameters=[_VERSION_PARAM],
        responses={
            200: VersionAgreementSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    )
    def get(self, request: Request) -> Response:
        version = _stats_version(request)
        return Response(
            VersionAgreementSerializer(selectors.version_agreement(version=version)).data
        )


class DisagreementsView(APIView):
    """The reviews (the caller may read) where the AI and the person answered a criterion
    differently, newest first; paginated."""

    permission_classes = [IsAuthenticated, CanSeeStats]

    @extend_schema(
        summary="Where the AI and people disagreed on a criterion",
        parameters=[
            _VERSION_PARAM,
            OpenApiParameter("criterion", str, description="The criterion's key", required=True),
        ],
        responses={
            200: DisagreementSerializer(many=True),
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    )
    def get(self, request: Request) -> Response:
        from apps.common.errors import NotFound, ValidationFailed
        from apps.rubrics import selectors as rubrics

        version = _stats_version(request)
        key = request.query_params.get("criterion", "")
        if not key:
            raise ValidationFailed({"criterion": ["Give a criterion's key."]})
        if key not in {c.key for c in rubrics.frozen_structure(version=version).criteria}:
            raise NotFound("No such criterion in this version.")
        reviews, pairs = selectors.disagreements(
            user=request.user, version_id=version.pk, criterion_key=key
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(reviews, request, view=self) or []
        rows = [{"review": review, "pair": pairs[review.pk]} for review in page]
        return paginator.get_paginated_response(DisagreementSerializer(rows, many=True).data)


class TrustView(APIView):
    """The trust tier of every criterion of a version (REVIEW where none is computed), and the
    tier changes with their figures, newest first (paginated)."""

    permission_classes = [IsAuthenticated, CanSeeStats]

    @extend_schema(
        summary="Trust tiers and their changes",
        parameters=[_VERSION_PARAM],
        responses={
            200: TrustChangeSerializer(many=True),
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    )
    def get(self, request: Request) -> Response:
        from apps.rubrics import selectors as rubrics

        version = _stats_version(request)
        tiers = services.trust_tiers(version_id=version.pk)
        paginator = Pagination()
        page = (
            paginator.paginate_queryset(
                selectors.trust_changes(version_id=version.pk), request, view=self
            )
            or []
        )
        response = paginator.get_paginated_response(TrustChangeSerializer(page, many=True).data)
        response.data["tiers"] = {
            c.key: tiers.get(c.key, "REVIEW")
            for c in rubrics.frozen_structure(version=version).criteria
        }
        return response


class AiScoresView(APIView):
    """The AI scores (auto-QA) of the conversations the caller may see, newest first
    (paginated), and the version's summary: coverage, mean AI score and mean review score, each
    with its interval and n."""

    permission_classes = [IsAuthenticated, CanSeeStats]

    @extend_schema(
        summary="AI scores (auto-QA) and their summary",
        parameters=[_VERSION_PARAM],
        responses={
            200: AiScoreSerializer(many=True),
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    )
    def get(self, request: Request) -> Response:
        version = _stats_version(request)
        paginator = Pagination()
        page = (
            paginator.paginate_queryset(
                selectors.ai_score_list(user=request.user, version_id=version.pk),
                request,
                view=self,
            )
            or []
        )
        response = paginator.get_paginated_response(AiScoreSerializer(page, many=True).data)
        response.data["summary"] = AiScoreSummarySerializer(
            selectors.ai_score_summary(user=request.user, version_id=version.pk)
        ).data
        return response


# Sampling calculator ----------------------------------------------------------------------------


MIN_POINTS = 0.01


def _number_param(request: Request, name: str, default: float, *, below: float) -> float:
    """A number of points from the query, above 0 and below ``below``; else a 400 by field."""
    raw = str(request.query_params.get(name, "")).strip() or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    # A minimum: a tiny precision (1e-200) overflowed the sample size, a 500 (found by
    # tests/common/test_api_fuzz.py); no one samples for a hundredth of a point.
    if not math.isfinite(value) or not MIN_POINTS <= value < below:
        message = f"Give a number of points above 0 and below {below:g} (at least {MIN_POINTS:g})."
        raise ValidationFailed({name: [message]})
    return value


class SamplingCalculatorView(APIView):
    """How many reviews per agent (per period) reach a QA score within ± ``points`` and a
    criterion pass rate within ± ``rate_points`` percentage points, at 95%: the figures the
    policy form shows, from the scores and answers of the reviews the caller may read."""

    permission_classes = [IsAuthenticated, CanReview]

    @extend_schema(
        summary="Reviews per agent needed for a wanted precision (95%)",
        parameters=[
            OpenApiParameter(
                "points", OpenApiTypes.NUMBER, description="± QA score points (default 5)"
            ),
            OpenApiParameter(
                "rate_points",
                OpenApiTypes.NUMBER,
                description="± percentage points of a pass rate (default: points, at most 49)",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: _INVALID, 403: _FORBIDDEN},
    )
    def get(self, request: Request) -> Response:
        points = _number_param(request, "points", 5, below=100)
        rate_points = _number_param(request, "rate_points", min(points, 49), below=50)
        basis = selectors.sampling_basis(user=request.user)
        figures = selectors.sampling_figures(basis=basis, points=points, rate_points=rate_points)
        result = figures.as_json()
        result["score"] |= {
            "sd": basis.sd,
            "sd_is_default": basis.sd_is_default,
            "observed_sd": basis.observed_sd,
            "n": basis.score_n,
            "mean": basis.mean_score,
        }
        result["rate"]["observed"] |= {"p": basis.pass_rate, "n": basis.answer_n}
        result["confidence"] = 0.95
        return Response(result)
