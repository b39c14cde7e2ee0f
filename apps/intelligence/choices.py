"""Choices of the intelligence app: operators, rules, executions, flags."""

from __future__ import annotations

from django.db import models


class OperatorKind(models.TextChoices):
    SENTIMENT = "SENTIMENT", "Sentiment"
    SUMMARY = "SUMMARY", "Summary"
    NEXT_BEST_RESPONSE = "NEXT_BEST_RESPONSE", "Next best response"
    SCRIPT_ADHERENCE = "SCRIPT_ADHERENCE", "Script adherence"
    CLASSIFIER = "CLASSIFIER", "Classifier (phrases, keywords, regex)"
    EXTRACTOR = "EXTRACTOR", "Extractor (regex, keywords)"
    LLM_PROMPT = "LLM_PROMPT", "Language model prompt with a JSON schema"


# Kinds an admin may create in the UI; the four others are built in (one operator each).
CUSTOM_KINDS = (OperatorKind.CLASSIFIER, OperatorKind.EXTRACTOR, OperatorKind.LLM_PROMPT)
BUILTIN_KINDS = (
    OperatorKind.SENTIMENT,
    OperatorKind.SUMMARY,
    OperatorKind.NEXT_BEST_RESPONSE,
    OperatorKind.SCRIPT_ADHERENCE,
)


class Backend(models.TextChoices):
    EMBEDDED = "embedded", "Embedded (offline)"
    LLM = "llm", "Language model (OpenAI-compatible)"


class TriggerOn(models.TextChoices):
    """When a rule runs (twilio-wire §2.2), plus on demand from the UI or the API."""

    COMMUNICATION = "COMMUNICATION", "Every N communications"
    CONVERSATION_INACTIVE = "CONVERSATION_INACTIVE", "When the conversation becomes inactive"
    CONVERSATION_END = "CONVERSATION_END", "When the conversation ends"
    ON_DEMAND = "ON_DEMAND", "Only on demand"


class ExecutionStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    PARTIAL = "PARTIAL", "Some operators failed"
    FAILED = "FAILED", "Failed"
    SKIPPED = "SKIPPED", "Skipped"


FINISHED_STATUSES = (
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.PARTIAL,
    ExecutionStatus.FAILED,
    ExecutionStatus.SKIPPED,
)


class ResultStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    SKIPPED = "skipped", "Skipped"


class FlagStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    RESOLVED = "RESOLVED", "Resolved"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    DELIVERED = "DELIVERED", "Delivered"
    FAILED = "FAILED", "Failed"


class ConditionOp(models.TextChoices):
    """How a rule's flag condition compares an operator result's field with a value."""

    EQUALS = "eq", "equals"
    NOT_EQUALS = "ne", "does not equal"
    LESS_THAN = "lt", "is less than"
    GREATER_THAN = "gt", "is greater than"
    CONTAINS = "contains", "contains"
    ANY = "any", "is present"
