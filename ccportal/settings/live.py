"""Live updates: how long a conversation's events are kept for browsers catching up."""

from __future__ import annotations

from .env import get_int

# A browser away longer than this reloads what it shows instead of replaying the events.
LIVE_EVENT_RETENTION_HOURS = get_int("LIVE_EVENT_RETENTION_HOURS", 24, minimum=1)
# Events one catch-up request returns at most (the browser asks again while has_more).
LIVE_CATCHUP_LIMIT = get_int("LIVE_CATCHUP_LIMIT", 500, minimum=10)
