"""Saving a wrap-up from the panel's form (the API does the same for other clients)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.common.errors import ApplicationError, ValidationFailed
from apps.conversations import selectors as conversations

from . import services


def _number(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdecimal() and len(raw) < 19 else None


@login_required
@require_POST
def wrapup_save(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = conversations.conversation_get(user=request.user, pk=pk)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("conversation-detail", args=[conversation.pk])
    try:
        services.wrapup_save(
            user=request.user,  # type: ignore[arg-type]  # login_required
            conversation=conversation,
            summary=request.POST.get("summary", ""),
            topic=request.POST.get("topic", ""),
            outcome=request.POST.get("outcome", ""),
            revision=_number(request.POST.get("revision")) or 0,
            ai_summary_result_id=_number(request.POST.get("ai_result")),
        )
    except ValidationFailed as error:
        problems = " ".join(m for found in error.errors.values() for m in found)
        messages.error(request, f"Wrap-up not saved. {problems}")
    except ApplicationError as error:
        messages.error(request, f"Wrap-up not saved. {error.message}")
    else:
        messages.success(request, "Wrap-up saved.")
    return redirect(target)
