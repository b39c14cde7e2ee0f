"""The QA workflow: when reviews reach agents, how long they may dispute them, due dates."""

from __future__ import annotations

from .env import get_int

# Hours after submission before a review is released to the agent (0: at once).
QA_RELEASE_DELAY_HOURS = get_int("QA_RELEASE_DELAY_HOURS", 0, minimum=0)
# Days after release during which the agent may dispute a review.
QA_DISPUTE_WINDOW_DAYS = get_int("QA_DISPUTE_WINDOW_DAYS", 14, minimum=0)
# Open disputes an agent may have on one review at a time.
QA_DISPUTE_MAX_OPEN = get_int("QA_DISPUTE_MAX_OPEN", 2, minimum=1)
# When a flagged conversation's review is due, and a conversation sent to QA by hand.
QA_FLAG_DUE_HOURS = get_int("QA_FLAG_DUE_HOURS", 48, minimum=1)
QA_MANUAL_DUE_HOURS = get_int("QA_MANUAL_DUE_HOURS", 72, minimum=1)
