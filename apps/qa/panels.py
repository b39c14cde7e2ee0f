"""The QA panel on pages that show a conversation (``apps.conversations.panels``): its queue
items and reviews, and "Send to QA". Registered in ``QaConfig.ready``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.template.loader import render_to_string

from apps.accounts.scoping import can_use
from apps.conversations.panels import Panel

from . import selectors
from .choices import ACTIVE_ITEM_STATUSES, ItemSource, Priority

if TYPE_CHECKING:
    from apps.conversations.models import Communication, Conversation


def qa_panel(
    request: HttpRequest, conversation: Conversation, lines: Sequence[Communication]
) -> Panel:
    user = request.user
    if not (
        can_use(user, "qa_reviews") or can_use(user, "qa_my_reviews") or can_use(user, "qa_send")
    ):
        return Panel()
    items = selectors.items_of_conversation(user=user, conversation_id=conversation.pk)
    reviews = selectors.reviews_of_conversation(user=user, conversation_id=conversation.pk)
    manual_open = any(
        item.source == ItemSource.MANUAL and item.status in ACTIVE_ITEM_STATUSES for item in items
    )
    context = {
        "conversation": conversation,
        # Auto-QA beside people's reviews, for those who read reviews (not yet for agents).
        "ai_score": selectors.ai_score_of(conversation_id=conversation.pk)
        if can_use(user, "qa_reviews")
        else None,
        "items": items,
        "reviews": reviews,
        "can_send": can_use(user, "qa_send") and not manual_open,
        "can_review": can_use(user, "qa_review"),
        "priorities": Priority.choices,
    }
    return Panel(aside=render_to_string("qa/_panel.html", context, request=request))
