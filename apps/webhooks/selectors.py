"""Reads of the inbox for retention and erasure (apps/privacy)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from .choices import EventStatus
from .models import InboundEvent

SETTLED = (EventStatus.PROCESSED, EventStatus.IGNORED)


def inbox_purgeable(*, now: datetime | None = None) -> QuerySet[InboundEvent]:
    """Settled events older than ``INBOX_RETENTION_DAYS`` (none when it is 0): what
    ``services.inbox_purge`` deletes."""
    days = settings.INBOX_RETENTION_DAYS
    if days <= 0:
        return InboundEvent.objects.none()
    return inbox_settled_before(before=(now or timezone.now()) - timedelta(days=days))


def inbox_settled_before(*, before: datetime) -> QuerySet[InboundEvent]:
    """Processed and ignored events received before ``before``."""
    return InboundEvent.objects.filter(status__in=SETTLED, received_at__lt=before)


def inbox_event_ids_mentioning(*, needles: Iterable[str]) -> set[int]:
    """Events whose raw body or URL holds one of ``needles`` as written, or form- or
    URL-encoded (``+1555`` is ``%2B1555`` in a form body): a customer's address, or the ids of
    their conversations and calls. Reads every stored body: the inbox is short-lived."""
    forms: set[str] = set()
    for needle in needles:
        if needle:
            forms.update({needle, quote_plus(needle), quote(needle, safe="")})
    if not forms:
        return set()
    found = Q()
    for form in sorted(forms):
        found |= Q(body__icontains=form) | Q(url__icontains=form)
    return set(InboundEvent.objects.filter(found).values_list("pk", flat=True))
