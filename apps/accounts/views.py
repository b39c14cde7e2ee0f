"""A person's own pages: their notifications and API tokens; the sign-in page when locked out."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.common.errors import ValidationFailed
from apps.common.forms import add_service_errors, parse_id

from . import selectors, services
from .decorators import page_for

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


# API tokens ---------------------------------------------------------------------------------------


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “nightly export”.")
    days = forms.TypedChoiceField(coerce=int, label="Expires in")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        default = settings.API_TOKEN_DEFAULT_DAYS
        longest = settings.API_TOKEN_MAX_DAYS
        choices = sorted(d for d in {7, 30, 90, 180, 365, default, longest} if d <= longest)
        days = self.fields["days"]
        assert isinstance(days, forms.TypedChoiceField)
        days.choices = [(d, f"{d} days") for d in choices]
        days.initial = default


@page_for("api_tokens")
@never_cache  # the one response that carries a new secret must not be kept anywhere
@require_http_methods(["GET", "POST"])
def api_token_list(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; POST makes one and shows its secret, once, on this response."""
    issued = None
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.api_token_create(
                user=request.user,  # type: ignore[arg-type]
                name=form.cleaned_data["name"],
                days=form.cleaned_data["days"],
            )
        except ValidationFailed as failed:
            add_service_errors(form, failed.errors)
        else:
            form = ApiTokenForm()
    status = 201 if issued else (400 if request.method == "POST" else 200)
    return render(
        request,
        "accounts/api_tokens.html",
        {
            "form": form,
            "issued": issued,
            "tokens": selectors.api_token_list(user=request.user),  # type: ignore[arg-type]
            "now": timezone.now(),
            "api_base": request.build_absolute_uri(reverse("api-docs")),
        },
        status=status,
    )


@page_for("api_tokens")
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token_id = parse_id(pk)
    # Someone else's token is not found (the 404 page), unless an admin asks.
    if token_id is not None and services.api_token_revoke(
        token_id=token_id,
        by=request.user,  # type: ignore[arg-type]
    ):
        messages.success(request, "Token revoked: it no longer works.")
    return redirect("api-tokens")


# Sign-in lockout ----------------------------------------------------------------------------------


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """What a login refused for too many failures shows (AXES_LOCKOUT_CALLABLE): the same sign-in
    form (the admin's or ours) with the reason and how long to wait, status 429."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    message = (
        f"Too many failed sign-in attempts for this account from your address. For your "
        f"security, sign-in is paused for {minutes} minutes; try again later, or ask an "
        f"administrator to unlock it."
    )
    username = request.POST.get("username", "")[:150]
    next_url = request.POST.get(REDIRECT_FIELD_NAME, "")
    if request.path.startswith(reverse("admin:login")):
        context = {
            **admin.site.each_context(request),
            "title": "Log in",
            "app_path": request.get_full_path(),
            "form": (admin.site.login_form or AdminAuthenticationForm)(
                request, initial={"username": username}
            ),
            "username": "",
            REDIRECT_FIELD_NAME: next_url,
            "lockout_message": message,
        }
        return render(request, "admin/login.html", context, status=429)
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": next_url,
        "lockout_message": message,
    }
    return render(request, "accounts/login.html", context, status=429)
