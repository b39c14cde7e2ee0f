"""The inbox: every inbound webhook, stored before it is acknowledged."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .choices import EventStatus, Source


class InboundEvent(models.Model):
    """One delivery from Twilio, kept as received.

    ``idempotency_key`` is Twilio's ``I-Twilio-Idempotency-Token`` or a natural key of the payload;
    a second delivery with the same key is acknowledged and has no effect.
    """

    source = models.CharField(max_length=20, choices=Source.choices)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    event_type = models.CharField(max_length=64, blank=True)
    account_sid = models.CharField(max_length=64, blank=True)
    url = models.TextField(blank=True)
    headers = models.JSONField(default=dict)
    content_type = models.CharField(max_length=120, blank=True)
    # Empty for a request refused before its signature was known good: only its size and
    # SHA-256 are kept, since anyone could have sent it with anything in it.
    body = models.TextField(blank=True)
    body_size = models.IntegerField(default=0)
    body_sha256 = models.CharField(max_length=64, blank=True, default="")
    signature_valid = models.BooleanField()
    status = models.CharField(
        max_length=12, choices=EventStatus.choices, default=EventStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(db_index=True)
    # Not handed to a worker before this time (backoff after a transient error).
    available_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [
            # Bodies and headers are raw provider data: unredacted transcripts, phone numbers.
            ("view_raw_body", "Can view raw webhook bodies and headers"),
        ]
        # The table is partitioned by month of ``received_at`` (migration 0003,
        # apps/webhooks/partitions.py): its primary key is (id, received_at) in the database, and
        # the uniqueness of (source, idempotency_key) across months is kept by InboxKey.
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                condition=Q(status="pending"),
                name="inbound_event_pending_idx",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="processing"),
                name="inbound_event_claimed_idx",
            ),
            models.Index(
                fields=["source", "status", "-received_at"], name="inbound_event_filter_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_type or '?'} #{self.pk}"


class InboxKey(models.Model):
    """The idempotency keys of every stored delivery, across all months of the inbox.

    A unique index of a partitioned table must include its partition key, so the inbox cannot
    say by itself that a key was seen in another month. A trigger on the inbox (migration 0003)
    inserts the key here before each row and drops the row when the key is already here: an
    ``INSERT ... RETURNING id`` then returns no row, which ``services.inbox_store`` reads as a
    duplicate. Deleting inbox rows deletes their keys (a statement trigger); dropping a month
    deletes that month's keys (``partitions.inbox_partitions_drop_expired``).
    """

    source = models.CharField(max_length=20)
    idempotency_key = models.CharField(max_length=255)
    received_at = models.DateTimeField(db_index=True)
    event_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "idempotency_key"], name="inbox_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.idempotency_key}"
