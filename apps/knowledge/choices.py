"""Choices of the knowledge app."""

from __future__ import annotations

from django.db import models


class ObservationSource(models.TextChoices):
    OPERATOR = "operator", "Operator"
    USER = "user", "Person"
    TWILIO = "twilio", "Twilio"
