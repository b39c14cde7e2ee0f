from __future__ import annotations

from django.db import models


class Mix(models.TextChoices):
    """Who answered the customer (the same three kinds QA's sampling filters by, plus none)."""

    HUMAN = "HUMAN", "Human agent only"
    AI = "AI", "AI agent only"
    HANDOFF = "HANDOFF", "AI agent, then a human"
    NONE = "NONE", "No agent"


class CriterionSource(models.TextChoices):
    AI = "AI", "AI (script adherence operator)"
    HUMAN = "HUMAN", "QA reviewers"


class LabelKind(models.TextChoices):
    TOPIC = "TOPIC", "Topic"
    OUTCOME = "OUTCOME", "Outcome"
    HANDOFF = "HANDOFF", "Handoff reason"
    SUGGESTION = "SUGGESTION", "Suggestion operator"
