from __future__ import annotations

from django.db import models


class WrapupField(models.TextChoices):
    SUMMARY = "summary", "Summary"
    TOPIC = "topic", "Topic"
    OUTCOME = "outcome", "Outcome"
