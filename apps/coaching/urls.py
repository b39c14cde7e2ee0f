"""Coaching pages under /coaching/: each concern's module lists its own paths."""

from __future__ import annotations

from .views import goals, scorecard, sessions

urlpatterns = [*scorecard.urlpatterns, *sessions.urlpatterns, *goals.urlpatterns]
