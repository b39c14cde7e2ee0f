from __future__ import annotations

from django.db import models


class Source(models.TextChoices):
    ORCHESTRATOR = "orchestrator", "Conversation Orchestrator"
    INTELLIGENCE = "intelligence", "Conversation Intelligence"
    RELAY_ACTION = "relay_action", "ConversationRelay action"
    VOICE_STATUS = "voice_status", "Voice status callback"


class EventStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # stored, waiting for a worker
    PROCESSING = "processing", "Processing"  # claimed by a worker
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"  # valid but nothing for us (unknown event type)
    FAILED = "failed", "Failed"  # the payload cannot be applied (missing fields); not retried
    DEAD = "dead", "Dead"  # transient errors until attempts ran out
    REJECTED = "rejected", "Rejected"  # bad signature, malformed or oversized: never processed


RETRYABLE = (EventStatus.PENDING, EventStatus.PROCESSING)
