"""The coaching API under /api/coaching/: each concern's module lists its own routes."""

from __future__ import annotations

from . import goals, scorecard, sessions

urlpatterns = [*scorecard.urlpatterns, *sessions.urlpatterns, *goals.urlpatterns]
