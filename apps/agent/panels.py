"""The virtual agent's scoreboard on pages that show a conversation (``apps.conversations.panels``):
how fast it answered each caller turn, whether it was interrupted and recovered, and how its
session ended. Registered in ``AgentConfig.ready``; nothing shown for calls without the agent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.template.loader import render_to_string

from apps.conversations.panels import Panel

from .selectors import scoreboard_for_calls

if TYPE_CHECKING:
    from apps.conversations.models import Communication, Conversation


def scoreboard_panel(
    request: HttpRequest, conversation: Conversation, lines: Sequence[Communication]
) -> Panel:
    board = scoreboard_for_calls(call_sids=list(conversation.call_sids))
    if not board.sessions:
        return Panel()
    return Panel(
        aside=render_to_string("agent/_scoreboard_panel.html", {"board": board}, request=request)
    )
