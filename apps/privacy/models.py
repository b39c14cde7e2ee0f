"""The audit of customers' erasure requests: who asked, when, how far it got, what it changed.

Never what was erased: the identifier (a phone number, an email address, a profile) is kept only
as a keyed hash (``identifier_hash``), so a second request for the same customer is recognised
without the row saying who they were. ``targets`` holds the ids of the rows found when the
request was filed (conversations, calls, profiles, handoffs, inbox events), so the work can
resume after a crash without the identifier; it is emptied when the erasure is done.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.models import TimeStampedModel

from .choices import ErasureStatus, IdentifierKind


class ErasureRequest(TimeStampedModel):
    """One right-to-erasure request for one customer."""

    kind = models.CharField(max_length=8, choices=IdentifierKind.choices)
    identifier_hash = models.CharField(max_length=64, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=ErasureStatus.choices, default=ErasureStatus.PENDING
    )
    targets = models.JSONField(default=dict, blank=True)
    # Steps finished, in order; a resumed run skips them.
    steps_done = models.JSONField(default=list, blank=True)
    # Rows changed or deleted, per kind ("communications", "observations", ...).
    counts = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open request per customer: filing it again finds the one under way.
            models.UniqueConstraint(
                fields=["identifier_hash"],
                condition=Q(status__in=[ErasureStatus.PENDING, ErasureStatus.RUNNING]),
                name="erasure_one_open_per_identifier",
            ),
        ]

    def __str__(self) -> str:
        return f"Erasure request {self.pk} ({self.get_status_display()})"

    @property
    def total(self) -> int:
        return sum(int(v) for v in (self.counts or {}).values())
