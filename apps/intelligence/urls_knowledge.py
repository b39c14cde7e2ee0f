from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


def _placeholder(request):  # replaced by the knowledge pages
    return HttpResponse("Knowledge")


urlpatterns: list = [path("knowledge/", _placeholder, name="knowledge-list")]
