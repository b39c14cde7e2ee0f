"""Writing to the audit trail: nothing but the retention purge and a customer's erasure (the
triggers write the events)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pgtrigger
from django.db import transaction
from django.db.models import Case, Q, TextField, Value, When

from apps.common.anonymise import ANONYMISED_TEXT

from . import models as m
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


@transaction.atomic
def history_erase(*, conversation_ids: Sequence[int], profile_ids: Sequence[int]) -> dict[str, int]:
    """Erasure (apps/privacy): the audit trail's copies of what a customer's erasure removed.

    The snapshots of customer memory (profiles, observations) about them are deleted, as the
    memory itself is; the snapshots of rows about their conversations (reviews and their
    revisions and disputes, calibration benchmarks, coaching links) keep who changed what and
    when, with every free-text column replaced by ``ANONYMISED_TEXT``. Past the append-only
    trigger the way ``events_purge`` goes; a second call changes nothing."""
    conversations, profiles = list(conversation_ids), list(profile_ids)
    if not conversations and not profiles:
        return {"audit_events_deleted": 0, "audit_events_anonymised": 0}
    reviews = list(
        m.ReviewEvent.objects.filter(conversation_id__in=conversations)
        .values_list("pgh_obj_id", flat=True)
        .distinct()
    )
    disputes = list(
        m.DisputeEvent.objects.filter(review_id__in=reviews)
        .values_list("pgh_obj_id", flat=True)
        .distinct()
    )
    memory = Q(profile_id__in=profiles) | Q(conversation_id__in=conversations)
    deleted_sets = (
        m.CustomerProfileEvent.objects.filter(pgh_obj_id__in=profiles),
        m.ObservationEvent.objects.filter(memory),
    )
    anonymised_sets = (
        m.ReviewEvent.objects.filter(conversation_id__in=conversations),
        m.ReviewRevisionEvent.objects.filter(review_id__in=reviews),
        m.DisputeEvent.objects.filter(pgh_obj_id__in=disputes),
        m.CalibrationBenchmarkEvent.objects.filter(conversation_id__in=conversations),
        m.SessionLinkEvent.objects.filter(conversation_id__in=conversations),
    )
    uris = [f"{t.events._meta.label}:append_only" for t in TRACKED]
    deleted = anonymised = 0
    with pgtrigger.ignore(*uris):
        for queryset in deleted_sets:
            deleted += queryset.delete()[0]
        for queryset in anonymised_sets:
            texts = [
                f.name
                for f in queryset.model._meta.concrete_fields
                if isinstance(f, TextField) and not f.name.startswith("pgh_")
            ]
            if not texts:
                continue
            has_words = Q()
            for name in texts:
                has_words |= ~Q(**{name: ""}) & ~Q(**{name: ANONYMISED_TEXT})
            blanked = {
                name: Case(
                    When(**{name: ""}, then=Value("")),
                    default=Value(ANONYMISED_TEXT),
                    output_field=TextField(),
                )
                for name in texts
            }
            anonymised += queryset.filter(has_words).update(**blanked)
    return {"audit_events_deleted": deleted, "audit_events_anonymised": anonymised}


@transaction.atomic
def events_purge_batch(*, before: datetime, limit: int) -> int:
    """The nightly retention run's step (apps/privacy): up to ``limit`` of the oldest events
    older than ``before``, table by table, in one short transaction; 0 when none is left."""
    deleted = 0
    for tracked in TRACKED:
        if deleted >= limit:
            break
        with pgtrigger.ignore(f"{tracked.events._meta.label}:append_only"):
            ids = list(
                tracked.events.objects.filter(pgh_created_at__lt=before)
                .order_by("pgh_id")
                .values_list("pgh_id", flat=True)[: limit - deleted]
            )
            if ids:
                deleted += tracked.events.objects.filter(pgh_id__in=ids).delete()[0]
    return deleted
