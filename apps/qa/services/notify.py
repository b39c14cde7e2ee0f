"""What the QA workflow tells people, under the bell (``apps.accounts.services.notify``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse

from apps.accounts import selectors as accounts
from apps.accounts import services as accounts_services
from apps.accounts.choices import Role
from apps.accounts.services import NotificationInput

from ..choices import NotificationKind
from ..models import Dispute, QueueItem, Review


def item_assigned(item: QueueItem, *, user_id: int) -> None:
    accounts_services.notify(
        user_ids=[user_id],
        notification=NotificationInput(
            kind=NotificationKind.ITEM_ASSIGNED,
            title="A conversation to review was assigned to you",
            body=item.reason[:300],
            url=reverse("qa-item", args=[item.pk]),
        ),
    )


def pool_grew(count: int) -> None:
    """QA analysts hear of new unassigned items, folded into one unread line that counts them."""
    if count <= 0:
        return
    analysts = accounts.users_with_role(roles=[Role.QA_ANALYST]).values_list("pk", flat=True)
    accounts_services.notify(
        user_ids=list(analysts),
        notification=NotificationInput(
            kind=NotificationKind.POOL_ITEMS,
            title="New conversations in the QA pool",
            url=reverse("qa-queue") + "?tab=pool",
            key="qa.pool",
            count=count,
        ),
    )


def review_released(review: Review, *, agent_user_id: int) -> None:
    score = f"{review.score}%" if review.score is not None else "no score"
    accounts_services.notify(
        user_ids=[agent_user_id],
        notification=NotificationInput(
            kind=NotificationKind.REVIEW_RELEASED,
            title="A new review of one of your conversations",
            body=f"Scored {score}. Read it, acknowledge it, or dispute what you disagree with.",
            url=reverse("qa-review", args=[review.pk]),
        ),
    )


def dispute_opened(dispute: Dispute, *, user_ids: Iterable[int]) -> None:
    accounts_services.notify(
        user_ids=user_ids,
        notification=NotificationInput(
            kind=NotificationKind.DISPUTE_OPENED,
            title="A review was disputed",
            body=dispute.reason[:300],
            url=reverse("qa-review", args=[dispute.review_id]) + "#disputes",
        ),
    )


def dispute_decided(dispute: Dispute, *, user_ids: Iterable[int]) -> None:
    accounts_services.notify(
        user_ids=user_ids,
        notification=NotificationInput(
            kind=NotificationKind.DISPUTE_DECIDED,
            title=f"Dispute {dispute.get_status_display().lower()}",
            body=dispute.decision_reason[:300],
            url=reverse("qa-review", args=[dispute.review_id]) + "#disputes",
        ),
    )
