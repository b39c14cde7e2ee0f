"""The AI score (auto-QA) as pages, the API and insights read it: one conversation's, a list
scoped to the reader, and a version's summary beside people's review scores (never mixed).

Coverage is the share of the reader's closed conversations that have an AI score from at least
one trusted criterion. Means carry Student's t interval (``stats.mean_interval``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from apps.conversations import selectors as conversations
from apps.conversations.choices import ConversationStatus

from .. import stats
from ..choices import ReviewStatus
from ..models import AiScore, Review

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def ai_score_of(*, conversation_id: int) -> AiScore | None:
    """A conversation's AI score on the version it is judged by (the newest computed)."""
    return (
        AiScore.objects.filter(conversation_id=conversation_id)
        .select_related("rubric_version__rubric")
        .order_by("-computed_at", "-id")
        .first()
    )


def ai_score_list(*, user: Person, version_id: int | None = None) -> QuerySet[AiScore]:
    """The AI scores of the conversations ``user`` may see, newest first."""
    rows = AiScore.objects.filter(
        conversation__in=conversations.conversations_of(user=user).values("pk")
    )
    if version_id is not None:
        rows = rows.filter(rubric_version_id=version_id)
    return rows.select_related("conversation", "agent", "rubric_version__rubric").order_by(
        "-computed_at", "-id"
    )


@dataclass(frozen=True)
class MeanScore:
    n: int
    mean: float | None
    low: float | None
    high: float | None


def _mean(values: list[float]) -> MeanScore:
    if not values:
        return MeanScore(0, None, None, None)
    low, high = stats.mean_interval(values)
    return MeanScore(
        len(values),
        sum(values) / len(values),
        None if low != low else max(0.0, low),  # nan (one value) → None
        None if high != high else min(100.0, high),
    )


@dataclass(frozen=True)
class AiScoreSummary:
    closed: int  # the reader's closed conversations
    scored: int  # of which with an AI score from at least one trusted criterion
    ai: MeanScore  # of the version's AI scores
    human: MeanScore  # of the version's submitted review scores (calibration left out)
    criteria_count: int  # trusted criteria the version's AI scores are made of (at most)

    @property
    def coverage(self) -> float | None:
        return self.scored / self.closed if self.closed else None

    @property
    def coverage_interval(self) -> tuple[float, float] | None:
        return stats.wilson_interval(self.scored, self.closed) if self.closed else None


def ai_score_summary(*, user: Person, version_id: int) -> AiScoreSummary:
    """Coverage and the mean AI score against the mean human score of one version, over the
    conversations ``user`` may see, in four queries."""
    visible = conversations.conversations_of(user=user)
    closed = visible.filter(status=ConversationStatus.CLOSED)
    scored_rows = AiScore.objects.filter(conversation__in=closed.values("pk"), score__isnull=False)
    version_scores = [
        (float(score or 0), count)
        for score, count in scored_rows.filter(rubric_version_id=version_id).values_list(
            "score", "criteria_count"
        )
    ]
    human = [
        float(score or 0)
        for score in Review.objects.filter(
            # Row by row: a version's reviews are a few thousand, the scope's conversations
            # tens of thousands.
            conversations.of_visible_conversations(user=user),
            rubric_version_id=version_id,
            status=ReviewStatus.SUBMITTED,
            is_calibration=False,
            score__isnull=False,
        ).values_list("score", flat=True)
    ]
    return AiScoreSummary(
        closed=closed.count(),
        scored=scored_rows.values("conversation_id").distinct().count(),
        ai=_mean([s for s, _ in version_scores]),
        human=_mean(human),
        criteria_count=max((c for _, c in version_scores), default=0),
    )
