"""Live updates: how long a conversation's events are kept for browsers catching up."""

from __future__ import annotations

from .env import get_bool, get_float, get_int, get_list

# A browser away longer than this reloads what it shows instead of replaying the events.
LIVE_EVENT_RETENTION_HOURS = get_int("LIVE_EVENT_RETENTION_HOURS", 24, minimum=1)
# Events one catch-up request returns at most (the browser asks again while has_more).
LIVE_CATCHUP_LIMIT = get_int("LIVE_CATCHUP_LIMIT", 500, minimum=10)
# Origins that may show the agent assist view (/assist/<CallSid>/) in a frame, besides the
# portal itself: the Flex agent desktop, a CRM (CSP frame-ancestors sources).
ASSIST_FRAME_ANCESTORS = get_list("ASSIST_FRAME_ANCESTORS", [])
# An open socket checks again this often that its user may still see its scope (a changed
# role or team, a deactivated account) and is closed when not.
LIVE_SCOPE_RECHECK_SECONDS = get_float("LIVE_SCOPE_RECHECK_SECONDS", 30.0)

# Wrap-up: the time the agent has after the call to check and save the AI's notes (a save after
# it is kept and marked late), the outcomes a wrap-up may record, and the longest summary.
WRAPUP_SECONDS = get_int("WRAPUP_SECONDS", 120, minimum=10)
WRAPUP_OUTCOMES = [
    v.strip().lower() for v in get_list("WRAPUP_OUTCOMES", ["resolved", "follow-up", "escalated"])
]
WRAPUP_SUMMARY_MAX = get_int("WRAPUP_SUMMARY_MAX", 4000, minimum=200)

# The supervisor floor: a conversation older than this is not live any more, whatever its
# status (an abandoned placeholder); how often alerts are checked on every live call (silence
# and time windows pass without an event); the most tiles one floor shows.
FLOOR_MAX_AGE_HOURS = get_float("FLOOR_MAX_AGE_HOURS", 4.0)
# Off: no tiles are computed after changes (no floor, no live alerts), e.g. to measure its cost.
FLOOR_ENABLED = get_bool("FLOOR_ENABLED", True)
FLOOR_SWEEP_SECONDS = get_float("FLOOR_SWEEP_SECONDS", 5.0)
FLOOR_MAX_TILES = get_int("FLOOR_MAX_TILES", 500, minimum=10)
