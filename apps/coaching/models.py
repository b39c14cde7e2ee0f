"""Coaching: sessions tied to reviews and transcript evidence, action items, goals with frozen
baselines, and session templates.

All writes go through ``apps.coaching.services``; who sees what is decided by
``apps.accounts.scoping`` and applied by the ``for_user`` querysets here: admins and QA analysts
see all, coaches and supervisors their teams' agents, agents their own (never a coach's private
notes: those are a separate field the agent's views never read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.accounts.scoping import Reach, scope_for
from apps.common.models import TimeStampedModel

from .choices import GoalStatus, Metric, SessionStatus, TemplateVisibility

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

KEY_LENGTH = 64


def _agents_q(user: Person, field: str = "agent") -> Q | None:
    """The agents ``user`` may see coaching of, as a filter on ``field`` (None: everything)."""
    scope = scope_for(user)
    if scope.reach is Reach.EVERYTHING:
        return None
    if scope.reach is Reach.TEAMS:
        return Q(**{f"{field}__team_id__in": scope.team_ids})
    if scope.reach is Reach.OWN and scope.user_id is not None:
        return Q(**{f"{field}__user_id": scope.user_id})
    return Q(pk__in=[])


class ScopedByAgent(models.QuerySet):  # type: ignore[type-arg]
    agent_field = "agent"

    def for_user(self, user: Person) -> ScopedByAgent:
        from apps.accounts.scoping import can_use

        if not can_use(user, "coaching"):
            return self.none()
        q = _agents_q(user, self.agent_field)
        return self if q is None else self.filter(q)


class SessionTemplate(TimeStampedModel):
    """A reusable agenda (and topics) for sessions; visible to its author only, to the coaches
    of the author's teams, or to every coach."""

    name = models.CharField(max_length=200)
    agenda = models.TextField(blank=True)
    topics = ArrayField(models.CharField(max_length=KEY_LENGTH), default=list, blank=True)
    visibility = models.CharField(
        max_length=7, choices=TemplateVisibility.choices, default=TemplateVisibility.ALL
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class CoachingSession(TimeStampedModel):
    """A coach's session with one agent: planned → held (the agent acknowledges) → closed, or
    cancelled. ``topics`` are criterion keys of ``rubric_version``; ``origin`` says where it was
    started from (a review, a scorecard criterion, a heatmap cell) for the page to link back.
    ``private_notes`` are for coaches only; ``shared_notes`` reach the agent."""

    agent = models.ForeignKey("accounts.Agent", on_delete=models.CASCADE, related_name="+")
    coach = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=200)
    scheduled_at = models.DateTimeField()
    status = models.CharField(
        max_length=9, choices=SessionStatus.choices, default=SessionStatus.PLANNED
    )
    template = models.ForeignKey(
        SessionTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agenda = models.TextField(blank=True)
    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    topics = ArrayField(models.CharField(max_length=KEY_LENGTH), default=list, blank=True)
    origin = models.JSONField(default=dict, blank=True)
    private_notes = models.TextField(blank=True)
    shared_notes = models.TextField(blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement = models.TextField(blank=True)
    follow_up_on = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedByAgent.as_manager()

    class Meta:
        ordering = ["-scheduled_at", "-id"]
        indexes = [
            models.Index(fields=["agent", "-scheduled_at"], name="coaching_session_agent_idx"),
            models.Index(
                fields=["coach", "status", "scheduled_at"], name="coaching_session_coach_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=SessionStatus.HELD) | Q(held_at__isnull=False),
                name="coaching_session_held_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"


class SessionLink(models.Model):
    """A review or conversation a session is about."""

    session = models.ForeignKey(CoachingSession, on_delete=models.CASCADE, related_name="links")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    review = models.ForeignKey(
        "qa.Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["session_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "conversation"], name="coaching_link_once_per_conversation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.conversation_id}"


class EvidencePin(models.Model):
    """A transcript line pinned to a session, with the criterion it shows and a comment (the
    review's comment on that criterion when pinned from a review)."""

    session = models.ForeignKey(CoachingSession, on_delete=models.CASCADE, related_name="pins")
    link = models.ForeignKey(SessionLink, on_delete=models.CASCADE, related_name="pins")
    # No database constraint: communications are partitioned by month (docs/scaling.md).
    # Django's CASCADE still deletes the pin with its line; a daily check finds dangling ids.
    communication = models.ForeignKey(
        "conversations.Communication",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    criterion_key = models.CharField(max_length=KEY_LENGTH, blank=True)
    comment = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["session_id", "link_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "communication", "criterion_key"], name="coaching_pin_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: line {self.communication_id}"


class ActionItem(TimeStampedModel):
    """Something agreed: who does it, by when, done or not. Usually from a session."""

    agent = models.ForeignKey("accounts.Agent", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(
        CoachingSession, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=500)
    due_on = models.DateField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_notified_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedByAgent.as_manager()

    class Meta:
        ordering = [models.F("due_on").asc(nulls_last=True), "id"]
        indexes = [
            models.Index(
                fields=["agent", "due_on"],
                condition=Q(done_at__isnull=True),
                name="coaching_action_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.text


class Goal(TimeStampedModel):
    """A target for an agent on one metric by a date. The baseline (the metric over the
    ``baseline_days`` before ``start_on``) is frozen when the goal is set; progress (the metric
    from ``start_on`` to today, or to ``due_on``) is recomputed from insights, with its 95%
    interval, and decides the status."""

    agent = models.ForeignKey("accounts.Agent", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(
        CoachingSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="goals"
    )
    metric = models.CharField(max_length=15, choices=Metric.choices)
    criterion_key = models.CharField(max_length=KEY_LENGTH, blank=True)
    target = models.FloatField()
    start_on = models.DateField()
    due_on = models.DateField()
    baseline_days = models.PositiveSmallIntegerField(default=30)
    baseline = models.FloatField(null=True, blank=True)
    baseline_n = models.PositiveIntegerField(default=0)
    baseline_low = models.FloatField(null=True, blank=True)
    baseline_high = models.FloatField(null=True, blank=True)
    progress = models.FloatField(null=True, blank=True)
    progress_n = models.PositiveIntegerField(default=0)
    progress_low = models.FloatField(null=True, blank=True)
    progress_high = models.FloatField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=GoalStatus.choices, default=GoalStatus.NOT_ENOUGH_DATA
    )
    computed_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScopedByAgent.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [models.Index(fields=["agent", "due_on"], name="coaching_goal_agent_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_on__gte=models.F("start_on")), name="coaching_goal_dates"
            ),
            models.CheckConstraint(
                condition=~Q(metric=Metric.CRITERION_PASS) | ~Q(criterion_key=""),
                name="coaching_goal_criterion_named",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} → {self.target}"
