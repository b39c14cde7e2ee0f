"""The handoff panel on pages that show a conversation (``apps.conversations.panels``): why the
virtual agent handed the caller over and what it said the call was about, so the person who
picks up does not ask again. Registered in ``RelayConfig.ready``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.template.loader import render_to_string

from apps.conversations.panels import Panel

from . import selectors

if TYPE_CHECKING:
    from apps.conversations.models import Communication, Conversation


def handoff_panel(
    request: HttpRequest, conversation: Conversation, lines: Sequence[Communication]
) -> Panel:
    handoffs = selectors.handoffs_of(
        conversation_id=conversation.pk, call_sids=list(conversation.call_sids)
    )
    if not handoffs:
        return Panel()
    context = {"handoff": handoffs[-1], "earlier": len(handoffs) - 1}
    return Panel(aside=render_to_string("relay/_handoff_panel.html", context, request=request))
