from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("conversation-list")


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("todo")


@login_required
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse("todo")
