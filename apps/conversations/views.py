"""Server-rendered conversation pages: thin views over selectors and the shared filter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from csp.constants import SELF
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.decorators import page_for
from apps.common.errors import ValidationFailed
from apps.common.pagination import CountedRowsByIdPaginator, RowsByIdPaginator
from apps.common.replica import replica_reads
from apps.common.spreadsheet import csv_lines
from apps.live.streams import live_position

from . import access, panels, selectors, services
from .filters import AccessLogPageFilter, ConversationPageFilter

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
    # A search's matching set is the costly part: its count and page ids come in one query.
    searching = bool(request.GET.get("q", "").strip())
    paginator = (CountedRowsByIdPaginator if searching else RowsByIdPaginator)(
        filterset.qs, PAGE_SIZE, rows=lambda ids: selectors.conversation_rows(ids=ids)
    )
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
    asked = access.page_read(request, conversation)
    if asked is not None:
        add_never_cache_headers(asked)
        return asked
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
        # The transcript's indicator says "Ended", not "Live", once the calling is over.
        "ended": selectors.ended_at(conversation=conversation) is not None,
    }


@login_required
@xframe_options_exempt  # framing is decided by the CSP's frame-ancestors below
def conversation_assist(request: HttpRequest, call_sid: str) -> HttpResponse:
    """``/assist/<CallSid>/``: what an agent keeps open beside the call (in the Flex agent
    desktop or a CRM, in an iframe): the live transcript and the panels, compact."""
    conversation = selectors.conversation_for_call_of(user=request.user, call_sid=call_sid)
    asked = access.page_read(request, conversation)
    if asked is not None:
        response = asked
    else:
        context = _page_context(request, conversation) | {"call_sid": call_sid}
        response = render(request, "conversations/assist.html", context)
    # What django-csp's @csp_replace sets, but with the origins read per request: the only page
    # other sites may frame (the site-wide policy says frame-ancestors 'none'); the reason form
    # shows in the same frame, so it gets the same.
    response._csp_replace = {  # type: ignore[attr-defined]
        "frame-ancestors": [SELF, *settings.ASSIST_FRAME_ANCESTORS]
    }
    return response


@login_required
@require_POST
def conversation_access_reason(request: HttpRequest, pk: int) -> HttpResponse:
    """The reason form's answer: remembered for this session and conversation, then back to
    the page that asked (the read is recorded there, with the reason)."""
    conversation = selectors.conversation_get(user=request.user, pk=pk)
    reason, problem = access.reason_from_form(request.POST)
    if problem:
        return access.reason_form(request, conversation, error=problem, status=400)
    access.remember_reason(request.session, conversation.pk, reason)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("conversation-detail", pk=conversation.pk)
    return redirect(target)


@page_for("conversation_sensitive")
@require_POST
def conversation_sensitive(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a conversation sensitive, or clear the mark (QA analysts and admins), with a reason."""
    conversation = selectors.conversation_get(user=request.user, pk=pk)
    sensitive = request.POST.get("sensitive") == "1"
    try:
        services.conversation_mark_sensitive(
            user=request.user,
            conversation=conversation,
            sensitive=sensitive,
            reason=request.POST.get("reason", ""),
        )
    except ValidationFailed as error:
        problems = [m for messages_ in error.errors.values() for m in messages_]
        messages.error(request, "Not changed: " + " ".join(problems))
    else:
        # They are reading it now: the reason they gave stands for this session's reads.
        access.remember_reason(
            request.session,
            conversation.pk,
            services.access_reason_clean(
                ("Marked" if sensitive else "Cleared") + " sensitive: " + request.POST["reason"]
            ),
        )
        messages.success(
            request,
            "Marked sensitive: its transcript is read with a reason from now on."
            if sensitive
            else "No longer marked sensitive.",
        )
    return redirect("conversation-detail", pk=conversation.pk)


# The transcript access log -------------------------------------------------------------------

ACCESS_LOG_PAGE_SIZE = 50
ACCESS_LOG_COLUMNS = (
    "created_at", "username", "user_id", "conversation_id", "conversation_twilio_id", "channel",
    "reason", "sensitive", "path", "ip",
)  # fmt: skip


@page_for("access_log")
@require_GET
@replica_reads
def access_log(request: HttpRequest) -> HttpResponse:
    """``/admin-tools/access-log/``: who read which transcript, how and why (admins)."""
    filterset = AccessLogPageFilter(
        request.GET, queryset=selectors.access_log_list(user=request.user)
    )
    paginator = Paginator(filterset.qs, ACCESS_LOG_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    keep = request.GET.copy()
    keep.pop("page", None)
    return render(
        request,
        "conversations/access_log.html",
        {
            "filter": filterset,
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "query": keep.urlencode(),
            "active": any(str(v).strip() for k, v in request.GET.items() if k != "page"),
            "dedupe_minutes": settings.ACCESS_LOG_DEDUPE_SECONDS / 60,
        },
    )


def access_log_csv_rows(rows: Any) -> Iterator[list[str]]:
    yield list(ACCESS_LOG_COLUMNS)
    for row in rows.iterator(chunk_size=2000):
        yield [
            row.created_at.isoformat(),
            row.username,
            str(row.user_id or ""),
            str(row.conversation_id or ""),
            row.conversation_twilio_id,
            row.channel,
            row.reason,
            "true" if row.sensitive else "false",
            row.path,
            row.ip or "",
        ]


@page_for("access_log")
@require_GET
@replica_reads
def access_log_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The log as filtered on the page, as CSV, streamed (any number of rows)."""
    filterset = AccessLogPageFilter(
        request.GET, queryset=selectors.access_log_list(user=request.user)
    )
    if not filterset.is_valid():
        return HttpResponse(
            "Invalid filter: "
            + "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    response = StreamingHttpResponse(
        csv_lines(access_log_csv_rows(filterset.qs)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="transcript-access-{stamp}.csv"'
    return response
