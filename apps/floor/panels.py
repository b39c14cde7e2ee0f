"""The floor's panel on pages that show a conversation: its open alerts and the supervisors'
tips (on the agent's assist view, as they arrive), and for supervisors a box to send a tip.
Registered in ``FloorConfig.ready``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.template.loader import render_to_string

from apps.conversations import selectors as conversations
from apps.conversations.panels import Panel

from . import selectors
from .choices import AlertStatus

if TYPE_CHECKING:
    from apps.conversations.models import Communication, Conversation


def assist_panel(
    request: HttpRequest, conversation: Conversation, lines: Sequence[Communication]
) -> Panel:
    context = {
        "conversation": conversation,
        "alerts": list(
            selectors.alert_list(user=request.user).filter(
                conversation_id=conversation.pk, status=AlertStatus.OPEN
            )[:10]
        ),
        "tips": list(selectors.tips_of(conversation_id=conversation.pk).reverse()[:20]),
        # Tips are for a call going on; afterwards the panel keeps what was said.
        "can_tip": selectors.may_watch(request.user)
        and conversations.ended_at(conversation=conversation) is None,
    }
    return Panel(
        head=render_to_string("floor/_assist_head.html", request=request),
        aside=render_to_string("floor/_assist_panel.html", context, request=request),
    )
