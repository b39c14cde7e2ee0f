"""Language operator results, from Twilio Conversation Intelligence or from ccportal itself."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.common.models import TimeStampedModel
from apps.conversations.models import Conversation


class OutputFormat(models.TextChoices):
    TEXT = "TEXT", "Text"
    JSON = "JSON", "JSON"
    CLASSIFICATION = "CLASSIFICATION", "Classification"
    EXTRACTION = "EXTRACTION", "Extraction"


class ResultSource(models.TextChoices):
    TWILIO = "twilio", "Twilio Conversation Intelligence"
    CCPORTAL = "ccportal", "ccportal"


class OperatorResultQuerySet(models.QuerySet["OperatorResult"]):
    def for_user(self, user: Any) -> OperatorResultQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class OperatorResult(TimeStampedModel):
    """One operator's output for one rule execution, in Twilio's shape (twilio-wire.md §2.4)."""

    result_id = models.CharField(max_length=128, unique=True)
    source = models.CharField(
        max_length=10, choices=ResultSource.choices, default=ResultSource.TWILIO
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="operator_results"
    )
    call_sid = models.CharField(max_length=64, blank=True, db_index=True)
    account_id = models.CharField(max_length=64, blank=True)
    configuration_id = models.CharField(max_length=128, blank=True)
    configuration_name = models.CharField(max_length=255, blank=True)
    configuration_version = models.CharField(max_length=32, blank=True)
    rule_id = models.CharField(max_length=128, blank=True)
    operator_id = models.CharField(max_length=128)
    operator_name = models.CharField(max_length=255, blank=True)
    operator_version = models.CharField(max_length=32, blank=True)
    operator_parameters = models.JSONField(null=True, blank=True)
    output_format = models.CharField(max_length=16, choices=OutputFormat.choices)
    result = models.JSONField(null=True, blank=True)
    trigger_on = models.CharField(max_length=64, blank=True)
    trigger_at = models.DateTimeField(null=True, blank=True)
    communication_first = models.CharField(max_length=128, blank=True)
    communication_last = models.CharField(max_length=128, blank=True)
    channels = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    reference_ids = ArrayField(models.CharField(max_length=128), default=list, blank=True)
    participants = models.JSONField(default=list, blank=True)
    execution_details = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    date_created = models.DateTimeField(null=True, blank=True)

    objects = OperatorResultQuerySet.as_manager()

    class Meta:
        ordering = ["conversation_id", "date_created", "id"]
        indexes = [
            models.Index(
                fields=["conversation", "operator_id", "date_created"], name="opresult_conv_op_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operator_name or self.operator_id} on {self.conversation_id}"
