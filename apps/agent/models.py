"""The reference virtual agent's sessions and turns: what its scoreboard is computed from."""

from __future__ import annotations

from django.db import models

from apps.common.models import TimeStampedModel
from apps.knowledge.models import KnowledgeArticle

from .choices import SessionOutcome


class AgentSession(TimeStampedModel):
    """One ConversationRelay session of the virtual agent (one call, from ``setup`` to close).

    Joined to the call's conversation by ``call_sid`` (the Orchestrator events of the same
    call may arrive before or after it)."""

    session_id = models.CharField(max_length=64, unique=True)
    call_sid = models.CharField(max_length=64, db_index=True)
    account_sid = models.CharField(max_length=64, blank=True)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=20, choices=SessionOutcome.choices, default=SessionOutcome.IN_PROGRESS
    )
    handoff_reason_code = models.CharField(max_length=40, blank=True)
    handoff_reason = models.TextField(blank=True)
    summary = models.TextField(blank=True)
    sentiment = models.CharField(max_length=20, blank=True)
    digits = models.CharField(max_length=64, blank=True)  # DTMF pressed, in order
    errors = models.JSONField(default=list, blank=True)  # Twilio's ``error`` descriptions

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Agent session {self.session_id} ({self.outcome})"


class AgentTurn(models.Model):
    """One caller turn and the agent's reply, with the timings of the reply's stream.

    Times are from the final prompt's arrival at the socket: to the first ``text`` token sent,
    and to the first token that answers the caller (a handoff or "sorry" answers nothing).
    An interrupted reply keeps what the caller heard; ``recovered`` says whether the agent
    then answered the caller's next turn (None until known)."""

    session = models.ForeignKey(AgentSession, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    prompt = models.TextField()
    reply = models.TextField(blank=True)
    article = models.ForeignKey(
        KnowledgeArticle, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    article_title = models.CharField(max_length=255, blank=True)
    prompted_at = models.DateTimeField()
    first_token_ms = models.FloatField(null=True, blank=True)
    first_helpful_ms = models.FloatField(null=True, blank=True)
    tokens_sent = models.PositiveIntegerField(default=0)
    interrupted = models.BooleanField(default=False)
    heard = models.TextField(blank=True)  # utteranceUntilInterrupt
    interrupted_after_ms = models.IntegerField(null=True, blank=True)  # durationUntilInterruptMs
    recovered = models.BooleanField(null=True, blank=True)
    handoff = models.BooleanField(default=False)
    # The caller thanked the agent or said goodbye, and the agent said goodbye (task success).
    closing = models.BooleanField(default=False)

    class Meta:
        ordering = ["session", "index"]
        constraints = [
            models.UniqueConstraint(fields=["session", "index"], name="agent_turn_unique_index")
        ]

    def __str__(self) -> str:
        return f"Turn {self.index} of {self.session_id}"
