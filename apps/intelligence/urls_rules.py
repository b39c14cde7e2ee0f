from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


def _placeholder(request):  # replaced by the rules pages
    return HttpResponse("Rules")


urlpatterns: list = [path("rules/", _placeholder, name="rule-list")]
