"""Reads of reviews and disputes, scoped to who is asking (``Review.objects.for_user``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.common.errors import NotFound
from apps.common.pagination import among_ids
from apps.conversations import selectors as conversations

from .. import stats
from ..choices import DisputeStatus, ReviewStatus
from ..models import Dispute, DisputeItem, Review, ReviewAnswer, ReviewRevision

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

TREND_POINTS = 30


def review_base(*, user: Person) -> QuerySet[Review]:
    return _adorned(Review.objects.for_user(user))


def review_scope(*, user: Person) -> QuerySet[Review]:
    """The reviews ``user`` may read, unadorned: what a list counts and pages by id (its rows
    then come from ``review_rows``; the dispute counts' GROUP BY and joins over every
    review in scope made the count and each page read them all)."""
    return Review.objects.for_user(user)


def review_rows(*, ids: QuerySet[Any]) -> QuerySet[Review]:
    """The list rows of ``ids`` (a page's ids read with the caller's scope: not scoped again)."""
    return _adorned(Review.objects.filter(among_ids(ids)))


def _adorned(reviews: QuerySet[Review]) -> QuerySet[Review]:
    return (
        reviews.select_related(
            "conversation",
            "conversation__team",
            "agent",
            "agent__team",
            "reviewer",
            "rubric_version__rubric",
            "item",
            "calibration",
        )
        .prefetch_related(
            Prefetch("conversation__participants", queryset=conversations.participants_for_lists())
        )
        .annotate(
            open_disputes=Count("disputes", filter=Q(disputes__status=DisputeStatus.OPEN)),
            dispute_count=Count("disputes"),
        )
    )


def review_list(
    *,
    user: Person,
    status: str = "",
    agent_id: int | None = None,
    reviewer_id: int | None = None,
    team_id: int | None = None,
    disputed: bool = False,
) -> QuerySet[Review]:
    """Reviews for a list, newest submitted first: unadorned (``review_scope``); a page's rows
    come from ``review_rows``."""
    reviews = review_scope(user=user).filter(is_calibration=False)
    if status:
        reviews = reviews.filter(status=status)
    if agent_id is not None:
        reviews = reviews.filter(agent_id=agent_id)
    if reviewer_id is not None:
        reviews = reviews.filter(reviewer_id=reviewer_id)
    if team_id is not None:
        reviews = reviews.filter(conversation__team_id=team_id)
    if disputed:
        reviews = reviews.filter(Exists(Dispute.objects.filter(review=OuterRef("pk"))))
    return reviews.order_by("-submitted_at", "-created_at", "-id")


def review_get(*, user: Person, pk: int) -> Review:
    """One review ``user`` may read, with its revisions (and their answers) and disputes (and
    their items); 404 for anything else."""
    review = (
        review_base(user=user)
        .prefetch_related(
            Prefetch(
                "revisions",
                queryset=ReviewRevision.objects.select_related("created_by")
                .prefetch_related(
                    Prefetch("answers", queryset=ReviewAnswer.objects.order_by("position", "id"))
                )
                .order_by("number"),
            ),
            Prefetch(
                "disputes",
                queryset=Dispute.objects.select_related(
                    "opened_by", "decided_by", "resulting_revision"
                )
                .prefetch_related(Prefetch("items", queryset=DisputeItem.objects.order_by("id")))
                .order_by("created_at", "id"),
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if review is None:
        raise NotFound("No such review.")
    return review


def my_reviews(*, user: Person) -> QuerySet[Review]:
    """The agent's released reviews, newest first (the scope makes them theirs only)."""
    return (
        review_base(user=user)
        .filter(status=ReviewStatus.SUBMITTED, release_at__lte=timezone.now(), is_calibration=False)
        .order_by("-release_at", "-id")
    )


@dataclass(frozen=True)
class TrendPoint:
    when: datetime
    score: Decimal
    review_id: int


def score_trend(reviews: QuerySet[Review]) -> list[TrendPoint]:
    """The latest ``TREND_POINTS`` scored reviews, oldest first, for a chart."""
    rows = (
        reviews.exclude(score__isnull=True)
        .order_by("-submitted_at", "-id")
        .values_list("submitted_at", "score", "pk")[:TREND_POINTS]
    )
    return [
        TrendPoint(when, score, pk)
        for when, score, pk in reversed(rows)
        if when is not None and score is not None
    ]


@dataclass(frozen=True)
class ScoreSummary:
    """The mean of some review scores with its 95% interval (Student's t) and n; ``few`` when
    n is below ``QA_SCORE_MIN_N``, so pages mark it and say why."""

    n: int
    mean: float | None
    low: float | None
    high: float | None
    minimum: int

    @property
    def half_width(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    @property
    def few(self) -> bool:
        return 0 < self.n < self.minimum


def score_summary(points: list[TrendPoint]) -> ScoreSummary:
    """The average of a trend's scores (the reviews its chart shows) with its t interval."""
    values = [float(point.score) for point in points]
    n = len(values)
    low = high = None
    if n >= 2:
        low, high = stats.mean_interval(values)
    return ScoreSummary(
        n=n,
        mean=sum(values) / n if n else None,
        low=low,
        high=high,
        minimum=settings.QA_SCORE_MIN_N,
    )


def dispute_list(*, user: Person, status: str = DisputeStatus.OPEN) -> QuerySet[Dispute]:
    """Disputes of reviews ``user`` may read: open ones oldest first (the order to decide them),
    decided ones newest first."""
    disputes = (
        Dispute.objects.for_user(user)
        .select_related(
            "review",
            "review__agent",
            "review__reviewer",
            "review__conversation",
            "opened_by",
            "decided_by",
        )
        .prefetch_related(Prefetch("items", queryset=DisputeItem.objects.order_by("id")))
    )
    if status:
        disputes = disputes.filter(status=status)
    if status == DisputeStatus.OPEN:
        return disputes.order_by("created_at", "id")
    return disputes.order_by("-decided_at", "-created_at", "-id")


def dispute_get(*, user: Person, pk: int) -> Dispute:
    dispute = Dispute.objects.for_user(user).select_related("review").filter(pk=pk).first()
    if dispute is None:
        raise NotFound("No such dispute.")
    return dispute


def reviews_of_conversation(*, user: Person, conversation_id: int) -> list[Review]:
    return list(
        Review.objects.for_user(user)
        .filter(conversation_id=conversation_id, is_calibration=False)
        .select_related("reviewer")
        .order_by("-created_at", "-id")
    )
