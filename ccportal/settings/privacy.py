"""PII redaction at ingest (apps/common/redaction.py): what is masked before text is stored."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .env import get_bool, get_int, get_list

# The kinds apps.common.redaction knows; spelled out here so settings import no app code.
_PII_KINDS = ("CARD", "SSN", "EMAIL", "PHONE", "DIGITS")

PII_REDACTION_ENABLED = get_bool("PII_REDACTION_ENABLED", True)
# Comma-separated, e.g. "CARD,SSN,EMAIL"; a kind left out is not detected at all.
PII_REDACTION_KINDS = [kind.upper() for kind in get_list("PII_REDACTION_KINDS", list(_PII_KINDS))]
# Shortest run of spoken digits ("one two three four five six") masked as [DIGITS]; runs of
# figures need at least max(8, this). Below 6, five-digit ZIP codes would go too.
PII_MIN_DIGIT_RUN = get_int("PII_MIN_DIGIT_RUN", 6, minimum=2)

if _unknown := sorted(set(PII_REDACTION_KINDS) - set(_PII_KINDS)):
    raise ImproperlyConfigured(
        f"PII_REDACTION_KINDS has unknown kinds {', '.join(_unknown)}; "
        f"choose from {', '.join(_PII_KINDS)}."
    )
