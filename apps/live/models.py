"""The log behind live updates: one stream per conversation, its events numbered without gaps.

A socket is a doorbell that may drop a message (a Redis restart, a full channel, a reconnect);
the log is the truth. Every event a conversation's pages see is stored here with its number in
the same transaction as the change it reports, so a browser that notices a gap, or comes back
after a disconnect, asks for exactly what it missed (``streams.live_events_after``).

The conversation is kept by id, not as a foreign key: this module sits in the kernel that every
app may use, below the conversations app.
"""

from __future__ import annotations

from django.db import models


class LiveStream(models.Model):
    """One conversation's stream: its last number, and the oldest still kept."""

    conversation_id = models.BigIntegerField(primary_key=True)
    # Changes when the numbering starts again (the stream was reset): a browser holding numbers
    # of another epoch reloads what it shows instead of asking for the events after them.
    epoch = models.IntegerField(default=1)
    last_seq = models.BigIntegerField(default=0)
    # Events numbered below this were purged (``LIVE_EVENT_RETENTION_HOURS``).
    floor_seq = models.BigIntegerField(default=1)

    def __str__(self) -> str:
        return f"Stream of conversation {self.conversation_id} at {self.epoch}:{self.last_seq}"


class LiveEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    conversation_id = models.BigIntegerField()
    seq = models.BigIntegerField()
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation_id", "seq"], name="live_event_seq")
        ]
        indexes = [models.Index(fields=["created_at"], name="live_event_created_idx")]

    def __str__(self) -> str:
        return f"{self.event} #{self.seq} of conversation {self.conversation_id}"
