"""What retention would blank among QA reviews (apps/privacy)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from ..models import Dispute, Review, ReviewAnswer, ReviewRevision

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
