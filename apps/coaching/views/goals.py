"""Coaching pages: goals (owned by one piece of work; its paths are in ``urlpatterns``)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
