"""The transcript access log (apps/conversations/access.py): when a reader must give a reason.

Every read of transcript text is recorded whatever the mode; the mode decides only when the
reader is asked why first (docs/security.md, "Transcript access log").
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .env import get_int, get_str

_MODES = ("always", "sensitive", "never")

# always: every reader but an agent on their own call; sensitive: when the conversation is
# marked sensitive or lies outside the reader's usual work; never: nobody is asked.
ACCESS_REASON_MODE = get_str("ACCESS_REASON_MODE", "sensitive").strip().lower()
# Repeated reads of one conversation by one user through one channel with the same reason
# within this window are one row (the API polled every second is not 300 rows a minute).
# 0 records every read.
ACCESS_LOG_DEDUPE_SECONDS = get_int("ACCESS_LOG_DEDUPE_SECONDS", 300, minimum=0)

if ACCESS_REASON_MODE not in _MODES:
    raise ImproperlyConfigured(
        f"ACCESS_REASON_MODE must be one of {', '.join(_MODES)}, got {ACCESS_REASON_MODE!r}."
    )
