"""Server-rendered conversation pages: thin views over selectors and the shared filter."""

from __future__ import annotations

from typing import Any

from csp.constants import SELF
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.clickjacking import xframe_options_exempt

from apps.live.streams import live_position

from . import panels, selectors
from .filters import ConversationPageFilter

PAGE_SIZE = 25


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("conversation-list")


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    filterset = ConversationPageFilter(
        request.GET,
        queryset=selectors.conversation_list(user=request.user),
        user=request.user,
    )
    paginator = Paginator(filterset.qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
    }
    # htmx swaps just the filter bar and results; a history restore needs the whole page.
    partial = request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )
    template = "conversations/_browser.html" if partial else "conversations/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = selectors.conversation_get(user=request.user, pk=pk)
    key = request.GET.get("partial")
    if key and key != "transcript":
        # What a panel's script fetches to refresh itself (``panels.partial``): never cached.
        response = panels.partial(request, conversation, key)
        add_never_cache_headers(response)
        return response
    context = _page_context(request, conversation)
    if key == "transcript":
        # The page's script reloads its transcript when it cannot replay what it missed.
        response = render(request, "conversations/_transcript.html", context)
        add_never_cache_headers(response)
        return response
    return render(request, "conversations/detail.html", context)


def _page_context(request: HttpRequest, conversation: Any) -> dict[str, Any]:
    """What a page showing one conversation live draws: its transcript as of the stream
    position read first (an event numbered after it may already be in the lines, and the
    page's script applies a line it already shows as an update, never twice), the panels of
    the other apps, and each line's marks."""
    live = live_position(conversation.pk)
    lines = list(selectors.communication_timeline(conversation=conversation))
    shown = panels.panels_for(request, conversation, lines)
    marks = panels.line_marks(shown)
    timeline = [(line, marks.get(line.twilio_id, [])) for line in lines]
    return {
        "conversation": conversation,
        "lines": lines,
        "timeline": timeline,
        "panels": shown,
        "live": live,
    }


@login_required
@xframe_options_exempt  # framing is decided by the CSP's frame-ancestors below
def conversation_assist(request: HttpRequest, call_sid: str) -> HttpResponse:
    """``/assist/<CallSid>/``: what an agent keeps open beside the call (in the Flex agent
    desktop or a CRM, in an iframe): the live transcript and the panels, compact."""
    conversation = selectors.conversation_for_call_of(user=request.user, call_sid=call_sid)
    context = _page_context(request, conversation) | {"call_sid": call_sid}
    response = render(request, "conversations/assist.html", context)
    # What django-csp's @csp_replace sets, but with the origins read per request: the only page
    # other sites may frame (the site-wide policy says frame-ancestors 'none').
    response._csp_replace = {  # type: ignore[attr-defined]
        "frame-ancestors": [SELF, *settings.ASSIST_FRAME_ANCESTORS]
    }
    return response
