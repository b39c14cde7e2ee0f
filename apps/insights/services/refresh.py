"""The insights worker's loop: stale facts first, then the buckets they dirtied, until both
logs are empty (or the time budget is spent, when it asks for another round)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .facts import INSIGHTS_WAKER, facts_refresh_stale
from .rollups import rollups_refresh_dirty

# A drain hands over to a fresh task after this long, so one busy queue cannot starve the rest.
DRAIN_SECONDS = 20.0


@dataclass(frozen=True)
class RefreshReport:
    conversations: int
    buckets: int
    rounds: int
    complete: bool


def insights_refresh(*, budget_seconds: float = DRAIN_SECONDS) -> RefreshReport:
    """Refresh everything marked stale; safe to run twice and in parallel (see the modules)."""
    INSIGHTS_WAKER.clear()
    deadline = time.monotonic() + budget_seconds
    conversations = buckets = rounds = 0
    while True:
        rounds += 1
        refreshed = facts_refresh_stale()
        rebuilt = rollups_refresh_dirty()
        conversations += refreshed
        buckets += rebuilt
        if not refreshed and not rebuilt:
            return RefreshReport(conversations, buckets, rounds, complete=True)
        if time.monotonic() > deadline:
            INSIGHTS_WAKER.wake()
            return RefreshReport(conversations, buckets, rounds, complete=False)
