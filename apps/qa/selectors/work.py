"""Which conversations are a QA reader's own work: what ``apps.conversations.access`` asks
before it lets an analyst or admin read a transcript without a reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q

from apps.accounts.scoping import can_use

from ..choices import DisputeStatus, ItemStatus
from ..models import CalibrationConversation, Dispute, QueueItem, Review

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def usual_work(user: Person, conversation_ids: list[int]) -> set[int]:
    """The conversations among ``conversation_ids`` that are ``user``'s QA work: a queue
    item (not removed) assigned to or claimed by them, a review of theirs, a calibration
    session they take part in, and, for those who decide disputes, an open dispute."""
    if not conversation_ids:
        return set()
    ids = list(conversation_ids)
    user_id = int(user.pk or 0)
    items = QueueItem.objects.filter(
        Q(assignee_id=user_id) | Q(claimed_by_id=user_id), conversation_id__in=ids
    ).exclude(status=ItemStatus.REMOVED)
    reviews = Review.objects.filter(reviewer_id=user_id, conversation_id__in=ids)
    calibrations = CalibrationConversation.objects.filter(
        session__participants__user_id=user_id, conversation_id__in=ids
    )
    # One small query per kind of work, not a UNION: the models' default orderings inside a
    # UNION are refused on Django 6 ("ORDER BY term does not match any column").
    parts = [
        items.values_list("conversation_id", flat=True),
        reviews.values_list("conversation_id", flat=True),
        calibrations.values_list("conversation_id", flat=True),
    ]
    if can_use(user, "qa_decide"):
        disputes = Dispute.objects.filter(
            status=DisputeStatus.OPEN, review__conversation_id__in=ids
        )
        parts.append(disputes.values_list("review__conversation_id", flat=True))
    usual: set[int] = set()
    for part in parts:
        usual.update(part.order_by())
        if usual >= set(ids):  # all of them are work already: the other kinds need no query
            break
    return usual
