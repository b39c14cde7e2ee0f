"""Writing to the audit trail: nothing but the retention purge (the triggers write events)."""

from __future__ import annotations

from datetime import datetime

import pgtrigger
from django.db import transaction

from .tracked import TRACKED


@transaction.atomic
def events_purge(*, before: datetime) -> int:
    """Delete the events older than ``before`` from every event table; how many went.

    The one sanctioned way past the append-only triggers: ``pgtrigger.ignore`` sets a
    transaction-local variable that the ``append_only`` trigger of the named tables checks, for
    this transaction only; every other writer still meets the trigger. Meant for a retention
    task (the policy, e.g. "keep seven years", is the caller's)."""
    deleted = 0
    uris = [f"{t.events._meta.label}:append_only" for t in TRACKED]
    with pgtrigger.ignore(*uris):
        for tracked in TRACKED:
            count, _ = tracked.events.objects.filter(pgh_created_at__lt=before).delete()
            deleted += count
    return deleted
