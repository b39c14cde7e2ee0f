from __future__ import annotations

from django.db import models


class AlertKind(models.TextChoices):
    NEGATIVE_STREAK = "negative_streak", "Customer negative on consecutive turns"
    WINDOW_MISSED = "window_missed", "A critical criterion's time window passed unmet"
    SILENCE = "silence", "Silence longer than a threshold"
    ASKS_FOR_HUMAN = "asks_for_human", "Customer asks for a human or a supervisor"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
