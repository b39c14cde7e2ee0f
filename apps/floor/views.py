"""The supervisor floor page, and the forms that work without JavaScript (tips, acknowledging
an alert); the page's script does the same through the API."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts import selectors as accounts
from apps.accounts.decorators import page_for
from apps.common.errors import ApplicationError, ValidationFailed
from apps.conversations import selectors as conversations

from . import selectors, services


@page_for("floor")
def floor_page(request: HttpRequest) -> HttpResponse:
    tiles = selectors.floor_snapshot(user=request.user)
    context = {
        "tiles": tiles,
        "teams": list(accounts.team_choices(user=request.user).values_list("pk", "name")),
    }
    return render(request, "floor/floor.html", context)


@page_for("floor")
@require_POST
def tip_send(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = conversations.conversation_get(user=request.user, pk=pk)
    try:
        services.tip_send(
            user=request.user,  # type: ignore[arg-type]  # page_for: signed in
            conversation=conversation,
            text=request.POST.get("text", ""),
        )
    except ValidationFailed as error:
        messages.error(request, " ".join(m for ms in error.errors.values() for m in ms))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Tip sent to the agent.")
    return redirect(reverse("conversation-detail", args=[conversation.pk]))


@page_for("floor")
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    services.alert_acknowledge(user=request.user, alert_id=pk)
    return redirect("live-floor")
