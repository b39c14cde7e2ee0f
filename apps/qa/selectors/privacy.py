"""What retention would blank among QA reviews (apps/privacy)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse

from ..models import Dispute, QueueItem, Review, ReviewAnswer, ReviewRevision

# Set in an anonymised review's ``ai``: its AI suggestions hold no text any more.
ANONYMISED_MARK = "anonymised"


def reviews_with_text(*, before: datetime | None = None) -> QuerySet[Review]:
    """Reviews (started before ``before``, if given) that still hold free text: an
    acknowledgement, a draft, the AI's explanations, feedback or reasons of a revision, an
    answer's comment, or a dispute's words."""
    revision_text = ReviewRevision.objects.filter(review=OuterRef("pk")).filter(
        ~Q(strengths="") | ~Q(improvements="") | ~Q(reason="")
    )
    comment = ReviewAnswer.objects.filter(revision__review=OuterRef("pk")).exclude(comment="")
    dispute_text = Dispute.objects.filter(review=OuterRef("pk")).filter(
        ~Q(reason="") | ~Q(proposal="") | ~Q(decision_reason="")
    )
    reviews = (
        Review.objects.all() if before is None else Review.objects.filter(created_at__lt=before)
    )
    return reviews.filter(
        ~Q(acknowledgement="")
        | ~Q(draft={})
        | (~Q(ai={}) & ~Q(ai__has_key=ANONYMISED_MARK))
        | Exists(revision_text)
        | Exists(comment)
        | Exists(dispute_text)
    )


def notification_urls(*, conversation_ids: Iterable[int]) -> set[str]:
    """The links QA's notifications about these conversations carry (``services.notify``): their
    queue items, and their reviews with and without the disputes anchor."""
    conversation_ids = list(conversation_ids)
    urls = {
        reverse("qa-item", args=[pk])
        for pk in QueueItem.objects.filter(conversation_id__in=conversation_ids).values_list(
            "pk", flat=True
        )
    }
    for pk in Review.objects.filter(conversation_id__in=conversation_ids).values_list(
        "pk", flat=True
    ):
        url = reverse("qa-review", args=[pk])
        urls.update({url, f"{url}#disputes"})
    return urls
