"""Blanking what QA wrote about a conversation (retention and erasure, apps/privacy).

A review keeps its answers (outcomes, the AI's outcomes, agreement), scores and revisions: the
statistics, trust tiers and insights count those. Its words go: comments, strengths and
improvements, reasons, the agent's acknowledgement, the draft, the AI's explanations, and the
words of its disputes. Reviewers may have quoted the customer in any of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from apps.common.anonymise import ANONYMISED_TEXT, scrub_json

from ..models import (
    CalibrationBenchmark,
    CalibrationConversation,
    Dispute,
    QueueItem,
    QueueItemEvent,
    Review,
    ReviewAnswer,
    ReviewRevision,
)
from ..selectors.privacy import ANONYMISED_MARK, reviews_with_text

# In the AI's suggestions a review was prefilled from: what the agreement statistics compare.
AI_KEEP_KEYS = frozenset({"outcome", "segment", "criterion_key", "criteria_key", "tier"})
AI_KEEP_TREES = frozenset({"tiers"})


@transaction.atomic
def reviews_anonymise(*, ids: Iterable[int]) -> int:
    """Blank the words of these reviews (see the module); returns how many reviews held any.
    A second call changes nothing."""
    ids = list(ids)
    held = set(reviews_with_text().filter(pk__in=ids).values_list("pk", flat=True))
    if not held:
        return 0
    reviews = list(Review.objects.select_for_update().filter(pk__in=held))
    for review in reviews:
        ai = scrub_json(review.ai, keep=AI_KEEP_KEYS, keep_trees=AI_KEEP_TREES)
        review.ai = {**ai, ANONYMISED_MARK: True} if isinstance(ai, dict) else {}
        review.draft = {}
        review.acknowledgement = ""
    Review.objects.bulk_update(reviews, ["ai", "draft", "acknowledgement"])
    ReviewRevision.objects.filter(review_id__in=held).update(
        strengths="", improvements="", reason=""
    )
    ReviewAnswer.objects.filter(revision__review_id__in=held).exclude(comment="").update(comment="")
    Dispute.objects.filter(review_id__in=held).update(reason="", proposal="", decision_reason="")
    return len(held)


def reviews_anonymise_older(*, before: datetime, limit: int) -> int:
    """One batch of the reviews' retention."""
    ids = list(reviews_with_text(before=before).order_by().values_list("pk", flat=True)[:limit])
    return reviews_anonymise(ids=ids) if ids else 0


@transaction.atomic
def qa_erase(*, conversation_ids: Iterable[int]) -> dict[str, int]:
    """Erase a customer's words from QA's rows about these conversations: their reviews (as
    above), queue items' reasons and history notes, and calibration's AI suggestions and
    benchmark notes. Returns rows changed per kind."""
    conversation_ids = list(conversation_ids)
    reviews = reviews_anonymise(
        ids=Review.objects.filter(conversation_id__in=conversation_ids).values_list("pk", flat=True)
    )
    items = QueueItem.objects.filter(conversation_id__in=conversation_ids)
    item_count = items.exclude(reason=ANONYMISED_TEXT, removed_reason="").update(
        reason=ANONYMISED_TEXT, removed_reason=""
    )
    QueueItemEvent.objects.filter(item__in=items.values("pk")).exclude(note="").update(note="")
    calibrations = 0
    for row in CalibrationConversation.objects.select_for_update().filter(
        conversation_id__in=conversation_ids
    ):
        scrubbed = scrub_json(row.ai, keep=AI_KEEP_KEYS, keep_trees=AI_KEEP_TREES)
        if scrubbed != row.ai:
            CalibrationConversation.objects.filter(pk=row.pk).update(ai=scrubbed)
            calibrations += 1
    calibrations += (
        CalibrationBenchmark.objects.filter(conversation_id__in=conversation_ids)
        .exclude(note="")
        .update(note="")
    )
    return {"reviews": reviews, "queue_items": item_count, "calibration": calibrations}
