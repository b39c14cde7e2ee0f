"""The QA workflow: when reviews reach agents, how long they may dispute them, due dates."""

from __future__ import annotations

from .env import get_float, get_int

# Hours after submission before a review is released to the agent (0: at once).
QA_RELEASE_DELAY_HOURS = get_int("QA_RELEASE_DELAY_HOURS", 0, minimum=0)
# Days after release during which the agent may dispute a review.
QA_DISPUTE_WINDOW_DAYS = get_int("QA_DISPUTE_WINDOW_DAYS", 14, minimum=0)
# Open disputes an agent may have on one review at a time.
QA_DISPUTE_MAX_OPEN = get_int("QA_DISPUTE_MAX_OPEN", 2, minimum=1)
# When a flagged conversation's review is due, and a conversation sent to QA by hand.
QA_FLAG_DUE_HOURS = get_int("QA_FLAG_DUE_HOURS", 48, minimum=1)
QA_MANUAL_DUE_HOURS = get_int("QA_MANUAL_DUE_HOURS", 72, minimum=1)

# Trust tiers per criterion (apps.qa.services.trust). A criterion is TRUSTED when the lower bound
# of the 95% bootstrap interval of the AI-human Cohen's kappa reaches QA_TRUST_KAPPA_TRUSTED with
# at least QA_TRUST_MIN_N paired answers and no more than QA_TRUST_MAX_DISPUTES_LOST disputes the
# AI would have lost; REVIEW when the lower bound reaches QA_TRUST_KAPPA_REVIEW (or there is too
# little data to judge); MANUAL below that.
QA_TRUST_KAPPA_TRUSTED = get_float("QA_TRUST_KAPPA_TRUSTED", 0.8)
QA_TRUST_KAPPA_REVIEW = get_float("QA_TRUST_KAPPA_REVIEW", 0.4)
QA_TRUST_MIN_N = get_int("QA_TRUST_MIN_N", 30, minimum=1)
# ... and at least this many answers of the rarer outcome ("not met" for a criterion agents
# usually meet): with fewer, nothing shows whether the AI tells met from not met apart.
QA_TRUST_MIN_RARER = get_int("QA_TRUST_MIN_RARER", 5, minimum=0)
QA_TRUST_MAX_DISPUTES_LOST = get_int("QA_TRUST_MAX_DISPUTES_LOST", 2, minimum=0)
# Below this many reviews an average QA score (with its 95% interval) is marked "few".
QA_SCORE_MIN_N = get_int("QA_SCORE_MIN_N", 10, minimum=1)
# The sampling calculator (policy form): the standard deviation of review scores it assumes
# while fewer than QA_SAMPLING_MIN_REVIEWS submitted reviews show the real one.
QA_SAMPLING_DEFAULT_SD = get_float("QA_SAMPLING_DEFAULT_SD", 15.0)
QA_SAMPLING_MIN_REVIEWS = get_int("QA_SAMPLING_MIN_REVIEWS", 10, minimum=2)
# Below this many paired answers every agreement figure carries a warning.
QA_AGREEMENT_MIN_PAIRS = get_int("QA_AGREEMENT_MIN_PAIRS", 20, minimum=1)
# Bootstrap resamples for the kappa intervals (more: steadier bounds, slower pages).
QA_BOOTSTRAP_RESAMPLES = get_int("QA_BOOTSTRAP_RESAMPLES", 2000, minimum=100)
# Conversations an impact preview re-scores at most (the newest closed ones first).
QA_IMPACT_MAX_CONVERSATIONS = get_int("QA_IMPACT_MAX_CONVERSATIONS", 20000, minimum=1)
