from __future__ import annotations

from django.db import models


class ErasureStatus(models.TextChoices):
    PENDING = "PENDING", "Waiting"
    RUNNING = "RUNNING", "Erasing"
    DONE = "DONE", "Done"
    FAILED = "FAILED", "Failed"


class IdentifierKind(models.TextChoices):
    ADDRESS = "ADDRESS", "Phone number or email address"
    PROFILE = "PROFILE", "Customer profile"


class Action(models.TextChoices):
    PURGE = "PURGE", "Delete"
    ANONYMISE = "ANONYMISE", "Anonymise"
