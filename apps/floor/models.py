"""Alerts on live conversations (rules that admins manage for everyone) and supervisors' tips."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.common.models import TimeStampedModel
from apps.conversations.models import Conversation

from .choices import AlertKind, AlertStatus, Severity

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


class AlertRule(TimeStampedModel):
    """A condition watched on every live conversation. ``threshold`` is the number of
    consecutive negative turns (negative streak) or the seconds of silence (silence); phrases
    are what a customer says to ask for a human (asks for human)."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    threshold = models.PositiveIntegerField(default=0)
    phrases = ArrayField(models.CharField(max_length=120), default=list, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    # The same rule alerts again on the same conversation only after this many seconds.
    cooldown_seconds = models.PositiveIntegerField(default=300)
    raise_flag = models.BooleanField(default=False, help_text="Also send the call to QA.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertQuerySet(models.QuerySet["Alert"]):
    def for_user(self, user: Person) -> AlertQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Alert(TimeStampedModel):
    """One rule on one conversation (per ``key``: a criterion for a missed window): fired once,
    fired again after the rule's cooldown (``count``), acknowledged by a supervisor."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=120, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    fired_at = models.DateTimeField()
    last_fired_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=14, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    flag_id = models.BigIntegerField(null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-last_fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "conversation", "key"], name="alert_one_per_rule_and_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} on conversation {self.conversation_id}"


class TipQuerySet(models.QuerySet["Tip"]):
    def for_user(self, user: Person) -> TipQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Tip(TimeStampedModel):
    """A supervisor's private note to the agent on a live call (shown on the assist view)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=500)

    objects = TipQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Tip on conversation {self.conversation_id}"
