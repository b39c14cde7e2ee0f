"""A call's wrap-up as the agent saved it, beside what the AI proposed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.common.models import TimeStampedModel
from apps.conversations.models import Conversation

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


class WrapupQuerySet(models.QuerySet["Wrapup"]):
    def for_user(self, user: Person) -> WrapupQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Wrapup(TimeStampedModel):
    """One per conversation. ``ai_*`` is the AI's proposal the agent started from (kept as it
    was, whatever the AI says later); the plain fields are the agent's version. How much the
    agent changed is computed when saving (``services.wrapup_changes``)."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="wrapup"
    )
    ai_summary = models.TextField(blank=True)
    ai_summary_result_id = models.BigIntegerField(null=True, blank=True)
    ai_topic = models.CharField(max_length=200, blank=True)
    ai_outcome = models.CharField(max_length=40, blank=True)
    summary = models.TextField(blank=True)
    topic = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=40, blank=True)
    # Words inserted, deleted or replaced to turn the AI's summary into the agent's, and that
    # count over the longer of the two (0: kept as is, 1: rewritten).
    summary_distance = models.IntegerField(default=0)
    summary_change = models.FloatField(default=0)
    fields_changed = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    agent = models.ForeignKey(
        "accounts.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    saved_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False)
    revision = models.PositiveIntegerField(default=1)

    objects = WrapupQuerySet.as_manager()

    class Meta:
        ordering = ["-saved_at", "-id"]
        indexes = [models.Index(fields=["saved_at", "id"], name="wrapup_saved_idx")]

    def __str__(self) -> str:
        return f"Wrap-up of conversation {self.conversation_id} (revision {self.revision})"
