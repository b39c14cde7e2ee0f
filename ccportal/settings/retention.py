"""Retention of stored data (apps/privacy): how many days each kind is kept before the nightly
run purges or anonymises it. 0 (or empty) keeps it for ever, the default for everything but
the inbox, whose schedule stays ``INBOX_RETENTION_DAYS`` (ccportal/settings/twilio.py)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .env import get_int, get_str


def _days(name: str) -> int:
    """Days from the environment; unset or empty: 0, kept for ever."""
    value = get_str(name, "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise ImproperlyConfigured(f"{name} must be a number of days (0: keep), got {value!r}.")
    return int(value)


# Communications' text (transcripts): anonymised, the lines and the conversation's figures stay.
RETENTION_TRANSCRIPTS_DAYS = _days("RETENTION_TRANSCRIPTS_DAYS")
# Language operators' results (summaries, extractions, the model's raw answers): their free text
# is anonymised; labels, scores and outcomes (what insights and QA count) stay.
RETENTION_OPERATOR_RESULTS_DAYS = _days("RETENTION_OPERATOR_RESULTS_DAYS")
# QA reviews: comments, feedback, acknowledgements and dispute text are blanked; scores and
# answers stay.
RETENTION_REVIEWS_DAYS = _days("RETENTION_REVIEWS_DAYS")
# The transcript access log (who read which transcript, how, why): deleted whole. Kept for ever
# by default; audits of access usually ask for a year or more.
RETENTION_ACCESS_LOG_DAYS = _days("RETENTION_ACCESS_LOG_DAYS")
# The audit trail (apps/audit): every change to what people configure and decide. Kept for ever
# by default; regulators often ask for several years.
RETENTION_AUDIT_DAYS = _days("RETENTION_AUDIT_DAYS")
# Rows handled in one transaction by the nightly run (short locks on a first, large purge).
RETENTION_BATCH_SIZE = get_int("RETENTION_BATCH_SIZE", 2000, minimum=1)
