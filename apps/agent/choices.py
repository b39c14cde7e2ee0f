from __future__ import annotations

from django.db import models


class SessionOutcome(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    CONTAINED = "contained", "Contained"  # the caller hung up on the agent, nobody else needed
    # The caller hung up before saying anything the agent could answer (no caller turn): not
    # a call the agent contained, and left out of containment.
    ABANDONED = "abandoned", "Abandoned"
    HANDED_OFF = "handed_off", "Handed off"
    FAILED = "failed", "Failed"


class HandoffReason(models.TextChoices):
    ASKED_FOR_PERSON = "asked-for-person", "The caller asked for a person"
    REPEATED_CORRECTION = "repeated-correction", "The caller corrected the agent again"
    NOT_IN_KNOWLEDGE = "not-in-knowledge", "The answer is not in the knowledge base"
    PRESSED_ZERO = "pressed-zero", "The caller pressed 0"
    # The LLM path: the model called its hand_off tool, or the model failed (timeout, HTTP
    # error, a malformed stream): the caller is never left on a dead call.
    MODEL_HANDOFF = "model-handoff", "The model handed off"
    MODEL_ERROR = "model-error", "The model failed"
