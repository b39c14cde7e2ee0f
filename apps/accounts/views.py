"""A person's own pages: their notifications."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services

PAGE_SIZE = 30


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = selectors.notification_list(user=request.user)
    paginator = Paginator(notifications, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/notifications.html",
        {
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        },
    )


@login_required
@require_GET
def notification_menu(request: HttpRequest) -> HttpResponse:
    """The bell's drop-down: the latest notifications (fetched when it opens)."""
    return render(
        request,
        "accounts/_notification_menu.html",
        {"notifications": selectors.notification_list(user=request.user)[:8]},
    )


@login_required
@require_POST
def notification_read(request: HttpRequest) -> HttpResponse:
    """Mark one (``id``) or all notifications read, then go to ``next`` (a notification's link)."""
    raw = request.POST.get("id", "")
    ids = [int(raw)] if raw.isdecimal() and len(raw) < 19 else None
    services.notifications_mark_read(user=request.user, ids=ids)  # type: ignore[arg-type]
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"unread": selectors.notification_unread_count(user=request.user)})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = ""
    return redirect(target or "notifications")
