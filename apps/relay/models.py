"""Handoffs from a ConversationRelay virtual agent to a human."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from apps.common.models import TimeStampedModel
from apps.conversations.models import Conversation

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


class HandoffQuerySet(models.QuerySet["Handoff"]):
    def for_user(self, user: Person) -> HandoffQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Handoff(TimeStampedModel):
    """The virtual agent ended its session with HandoffData: a human takes over with it."""

    call_sid = models.CharField(max_length=64)
    session_id = models.CharField(max_length=64)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    conversation_twilio_id = models.CharField(max_length=128, blank=True)
    reason_code = models.CharField(max_length=120, blank=True)
    reason = models.TextField(blank=True)
    summary = models.TextField(blank=True)
    sentiment = models.CharField(max_length=40, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    session_status = models.CharField(max_length=20)
    session_duration = models.IntegerField(null=True, blank=True)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)

    objects = HandoffQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["call_sid", "session_id"], name="handoff_unique_session"
            ),
        ]

    def __str__(self) -> str:
        return f"Handoff {self.call_sid} ({self.reason or self.reason_code or 'no reason'})"
