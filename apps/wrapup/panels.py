"""The wrap-up panel on pages that show a conversation (``apps.conversations.panels``).

While the call goes on it is an empty slot the page's script fills when the call ends (a live
``status`` event); then the agent on the call gets the form, prefilled with the AI's summary,
topic and outcome, with the time left; everyone else sees the AI's version beside the agent's
once saved, and how much the agent changed. Registered in ``WrapupConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from apps.conversations.panels import Panel

from . import selectors

if TYPE_CHECKING:
    from apps.conversations.models import Communication, Conversation


def _context(request: HttpRequest, conversation: Conversation) -> dict[str, object]:
    state = selectors.wrapup_state(user=request.user, conversation=conversation)
    return {"conversation": conversation, "wrapup": state, "next": request.get_full_path()}


def wrapup_panel(
    request: HttpRequest, conversation: Conversation, lines: Sequence[Communication]
) -> Panel:
    context = _context(request, conversation)
    return Panel(
        head=render_to_string("wrapup/_head.html", request=request),
        aside=render_to_string("wrapup/_panel.html", context, request=request),
    )


def wrapup_partial(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    """What the page's script fetches (``?partial=wrapup``) when the call ends or a wrap-up is
    saved elsewhere. ``next`` is where the form returns: the page that asked."""
    context = _context(request, conversation)
    context["next"] = request.GET.get("next") or context["next"]
    return render(request, "wrapup/_panel.html", context)
