from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    QA_ANALYST = "qa_analyst", "QA analyst"
    COACH = "coach", "Coach"
    SUPERVISOR = "supervisor", "Supervisor"
    AGENT = "agent", "Agent"


class IdentityKind(models.TextChoices):
    """The ways Twilio (or a demo source) can name an agent."""

    NAME = "name", "Display name"
    ADDRESS = "address", "Address (phone, client identity, email)"
    WORKER_SID = "worker_sid", "TaskRouter worker SID"
    PARTICIPANT_ID = "participant_id", "Orchestrator participant id"
    SPEAKER_ID = "speaker_id", "Speaker id (demo data)"
