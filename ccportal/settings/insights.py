"""Insights: which operators give a conversation's topic and outcome, and how numbers are shown."""

from __future__ import annotations

from .env import get_float, get_int, get_list

# Classifier operators (their key, or a Twilio operator's name) whose label is a conversation's
# topic, and its outcome; the first listed that has a result wins. Compared case-insensitively.
INSIGHTS_TOPIC_OPERATORS = [v.lower() for v in get_list("INSIGHTS_TOPIC_OPERATORS", ["topic"])]
INSIGHTS_OUTCOME_OPERATORS = [
    v.lower() for v in get_list("INSIGHTS_OUTCOME_OPERATORS", ["outcome", "disposition"])
]
# Outcome labels that count as task success ("resolved"), compared case-insensitively.
INSIGHTS_SUCCESS_OUTCOMES = [v.lower() for v in get_list("INSIGHTS_SUCCESS_OUTCOMES", ["resolved"])]
# A suggestion counts as followed when the agent's next turn used at least this share of its
# content words.
INSIGHTS_SUGGESTION_FOLLOWED = get_float("INSIGHTS_SUGGESTION_FOLLOWED", 0.5)
# Cells, rows and cards with fewer conversations than this are shown muted ("few conversations").
INSIGHTS_MIN_N = get_int("INSIGHTS_MIN_N", 10, minimum=1)
# Conversations whose facts one refresh transaction recomputes at most.
INSIGHTS_BATCH = get_int("INSIGHTS_BATCH", 200, minimum=1)
# A conversation still in progress has its facts refreshed at most this often (seconds): its
# marks settle until the oldest is this old, then one refresh takes them all. 0: at once. A
# closed conversation is refreshed at once either way. Every line of a call marks it stale, so
# under load this is the difference between one refresh per line and one per call's half-minute
# (docs/benchmarks.md, "Soak"); compose.yaml sets 30.
INSIGHTS_ACTIVE_SETTLE_SECONDS = get_int("INSIGHTS_ACTIVE_SETTLE_SECONDS", 0, minimum=0)
# Database connections a full rebuild computes facts on at once (the server does the work: one
# per core it may use). A rebuild called inside a transaction uses its caller's connection only.
INSIGHTS_REBUILD_WORKERS = get_int("INSIGHTS_REBUILD_WORKERS", 2, minimum=1)

# Coaching: below this many values on either side a before/after or a goal's progress says
# "not enough data yet" rather than a verdict its interval cannot support.
COACHING_MIN_N = get_int("COACHING_MIN_N", 5, minimum=2)
