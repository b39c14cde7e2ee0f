from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import handoff_get


@login_required
def handoff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = handoff_get(user=request.user, pk=pk)
    return render(request, "relay/handoff_detail.html", {"handoff": handoff})
