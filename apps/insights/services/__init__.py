"""Insights' writes: facts kept current, rollups rebuilt from them, the full rebuild."""

from __future__ import annotations

from .facts import INSIGHTS_WAKER, facts_mark_stale, facts_refresh, facts_refresh_stale
from .rebuild import RebuildReport, insights_rebuild, rollups_rebuild_period
from .refresh import RefreshReport, insights_refresh
from .rollups import rollups_rebuild_buckets, rollups_refresh_dirty
from .suggestions import closeness, suggestions_score

__all__ = [
    "INSIGHTS_WAKER",
    "RebuildReport",
    "RefreshReport",
    "closeness",
    "facts_mark_stale",
    "facts_refresh",
    "facts_refresh_stale",
    "insights_rebuild",
    "insights_refresh",
    "rollups_rebuild_buckets",
    "rollups_rebuild_period",
    "rollups_refresh_dirty",
    "suggestions_score",
]
