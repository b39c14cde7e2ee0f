"""The QA workflow: a queue of conversations to review, the policies that sample it, reviews
with their immutable revisions, and agents' disputes.

All writes go through ``apps.qa.services``; state changes there are guarded ``UPDATE``s. Who
sees what is decided by ``apps.accounts.scoping`` and applied by the ``for_user`` querysets here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.scoping import Reach, scope_for
from apps.common.models import TimeStampedModel
from apps.conversations.models import Conversation, visible_rows

from .choices import (
    BenchmarkMode,
    CalibrationStatus,
    DisputeStatus,
    ItemAction,
    ItemSource,
    ItemStatus,
    Period,
    PreviewStatus,
    Priority,
    QuotaKind,
    ReviewStatus,
    RevisionSource,
    TrustTier,
)

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

OUTCOME_LENGTH = 7
SEGMENT_LENGTH = 11
KEY_LENGTH = 64


def _visible_conversations(user: Person) -> models.QuerySet[Conversation, Any]:
    return Conversation.objects.for_user(user).values("pk")


class SamplingPolicy(TimeStampedModel):
    """Which conversations QA reviews beyond the flagged ones: filters, a quota per agent and
    period, the reviewers the picks are spread over, and when it runs (a crontab line).

    Every filter left empty matches everything. ``quota_kind`` PER_AGENT picks ``quota_count``
    conversations per agent per ``period``; PERCENT picks ``percent`` % of each agent's matching
    conversations in the period, at least ``minimum``.
    """

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    teams = models.ManyToManyField("accounts.Team", blank=True, related_name="+")
    agents = models.ManyToManyField("accounts.Agent", blank=True, related_name="+")
    queues = ArrayField(models.CharField(max_length=120), default=list, blank=True)
    channels = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    participant_mix = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    sentiments = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    adherence_min = models.DecimalField(null=True, blank=True, max_digits=4, decimal_places=1)
    adherence_max = models.DecimalField(null=True, blank=True, max_digits=4, decimal_places=1)
    duration_min_seconds = models.PositiveIntegerField(null=True, blank=True)
    duration_max_seconds = models.PositiveIntegerField(null=True, blank=True)
    quota_kind = models.CharField(
        max_length=10, choices=QuotaKind.choices, default=QuotaKind.PER_AGENT
    )
    quota_count = models.PositiveSmallIntegerField(default=3)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    minimum = models.PositiveSmallIntegerField(default=1)
    period = models.CharField(max_length=5, choices=Period.choices, default=Period.WEEK)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    due_days = models.PositiveSmallIntegerField(default=7)
    # minute hour day-of-month month day-of-week, in TIME_ZONE.
    schedule = models.CharField(max_length=100, default="0 6 * * *")
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "sampling policies"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="qa_policy_unique_name_ci"),
            models.CheckConstraint(
                condition=Q(percent__isnull=True) | (Q(percent__gt=0) & Q(percent__lte=100)),
                name="qa_policy_percent_range",
            ),
            models.CheckConstraint(condition=Q(quota_count__gte=1), name="qa_policy_quota_min"),
        ]

    def __str__(self) -> str:
        return self.name


class QueueItemQuerySet(models.QuerySet["QueueItem"]):
    def for_user(self, user: Person) -> QueueItemQuerySet:
        """Items of conversations ``user`` may review: everything for admins and QA analysts,
        their teams' for coaches, none for anyone else (supervisors and agents do not work the
        queue)."""
        from apps.accounts.scoping import can_use

        if not can_use(user, "qa_review"):
            return self.none()
        if scope_for(user).reach is Reach.EVERYTHING:
            return self
        return self.filter(conversation__in=_visible_conversations(user))


class QueueItem(TimeStampedModel):
    """One conversation to review, and why. One item per (conversation, source key): a flag
    delivered twice, or a policy run twice in a period, finds its item already there.

    ``assignee`` None means the pool: anyone who may review the conversation can claim it.
    OPEN → CLAIMED (``claimed_by``, who also becomes the assignee; ``claimed_from_pool`` says to
    give it back to the pool if it is put back) → DONE when its review is submitted; REMOVED
    with a reason.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="qa_items"
    )
    source = models.CharField(max_length=12, choices=ItemSource.choices)
    source_key = models.CharField(max_length=200)
    reason = models.TextField()
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_from_pool = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    removed_reason = models.TextField(blank=True)
    flag = models.ForeignKey(
        "intelligence.Flag", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    policy = models.ForeignKey(
        SamplingPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    calibration = models.ForeignKey(
        "CalibrationSession", null=True, blank=True, on_delete=models.CASCADE, related_name="items"
    )
    period = models.CharField(max_length=10, blank=True)  # a policy's period: 2026-12-06, 2026-W49
    agent = models.ForeignKey(
        "accounts.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Why a policy picked it: the quota, the rank within the agent's picks, the filters.
    pick = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = QueueItemQuerySet.as_manager()

    class Meta:
        ordering = [F("priority").desc(), F("due_at").asc(nulls_last=True), "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "source_key"], name="qa_item_once_per_source"
            ),
            models.CheckConstraint(
                condition=~Q(status=ItemStatus.CLAIMED) | Q(claimed_by__isnull=False),
                name="qa_item_claimed_has_claimer",
            ),
        ]
        indexes = [
            # Claim next from the pool: the best open unassigned item, without a sort.
            models.Index(
                F("priority").desc(),
                F("due_at").asc(nulls_last=True),
                "id",
                condition=Q(status=ItemStatus.OPEN, assignee__isnull=True),
                name="qa_item_pool_next_idx",
            ),
            # A person's items (open and claimed) in claim order: "my items" and claim next.
            models.Index(
                "assignee",
                F("priority").desc(),
                F("due_at").asc(nulls_last=True),
                "id",
                condition=Q(status__in=[ItemStatus.OPEN, ItemStatus.CLAIMED]),
                name="qa_item_mine_next_idx",
            ),
            # The admins' "everything" tab in either order, and overdue counts.
            models.Index(
                F("priority").desc(),
                F("due_at").asc(nulls_last=True),
                "id",
                name="qa_item_priority_idx",
            ),
            models.Index(
                F("due_at").asc(nulls_last=True),
                F("priority").desc(),
                "id",
                name="qa_item_due_order_idx",
            ),
            models.Index(
                "due_at",
                condition=Q(status__in=[ItemStatus.OPEN, ItemStatus.CLAIMED]),
                name="qa_item_due_idx",
            ),
            models.Index(fields=["assignee", "status"], name="qa_item_assignee_idx"),
            models.Index(fields=["status", "-created_at"], name="qa_item_status_idx"),
            models.Index(fields=["claimed_by", "status"], name="qa_item_claimed_idx"),
            models.Index(fields=["policy", "period", "agent"], name="qa_item_policy_period_idx"),
        ]

    def __str__(self) -> str:
        return f"QA item {self.pk} ({self.get_source_display()}) on {self.conversation_id}"

    @property
    def is_overdue(self) -> bool:
        return (
            self.due_at is not None
            and self.status in (ItemStatus.OPEN, ItemStatus.CLAIMED)
            and self.due_at < timezone.now()
        )


class QueueItemEvent(models.Model):
    """A line of a queue item's history: who did what, when, and why."""

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=10, choices=ItemAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["item_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.item_id}"


class ReviewQuerySet(models.QuerySet["Review"]):
    def for_user(self, user: Person) -> ReviewQuerySet:
        """Reviews ``user`` may read.

        Admins and QA analysts: all. Coaches and supervisors: the submitted reviews of their
        teams' conversations, and their own drafts. Agents: their own reviews once submitted and
        released. Anyone else: none.
        """
        from apps.accounts.scoping import can_use

        scope = scope_for(user)
        # A blind calibration session's answers are the answerer's own until it closes.
        hidden = Q(calibration__blind=True, calibration__status=CalibrationStatus.OPEN) & ~Q(
            reviewer_id=user.pk
        )
        if scope.reach is Reach.EVERYTHING:
            return self.exclude(hidden)
        if scope.reach is Reach.TEAMS and can_use(user, "qa_reviews"):
            # Row by row (a team's reviews are a few thousand of its tens of thousands of
            # conversations): see ``visible_rows``.
            return self.exclude(hidden).filter(
                Q(status=ReviewStatus.SUBMITTED) | Q(reviewer_id=user.pk),
                visible_rows(user),
            )
        if scope.reach is Reach.OWN and scope.user_id is not None:
            return self.filter(
                status=ReviewStatus.SUBMITTED,
                release_at__lte=timezone.now(),
                agent__user_id=scope.user_id,
                is_calibration=False,
            )
        return self.none()


class Review(TimeStampedModel):
    """A person's review of one conversation against the rubric version pinned to it.

    While DRAFT its answers live in ``draft`` (saved as they change); submitting writes revision
    1 and freezes it. A later change (a reviewer's correction, an accepted dispute) is a new
    revision with its reason; the old ones stay. ``ai`` keeps the AI's suggestions the form was
    prefilled from, so every answer can be compared with them, whatever results come later.
    ``score`` and ``passed_critical`` are the current revision's (the human agent's segment when
    there is one, else the AI agent's), kept here for lists.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="qa_reviews"
    )
    item = models.OneToOneField(
        QueueItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="review"
    )
    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", on_delete=models.PROTECT, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        "accounts.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=9, choices=ReviewStatus.choices, default=ReviewStatus.DRAFT
    )
    segments = ArrayField(models.CharField(max_length=SEGMENT_LENGTH), default=list)
    draft = models.JSONField(default=dict, blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    ai = models.JSONField(default=dict, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    current_revision = models.ForeignKey(
        "ReviewRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revision_count = models.PositiveSmallIntegerField(default=0)
    score = models.DecimalField(null=True, blank=True, max_digits=4, decimal_places=1)
    passed_critical = models.BooleanField(null=True, blank=True)
    release_at = models.DateTimeField(null=True, blank=True)
    release_notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_revision = models.PositiveSmallIntegerField(null=True, blank=True)
    acknowledgement = models.TextField(blank=True)
    # Calibration answers never count in agents' scores, nor reach the agent.
    is_calibration = models.BooleanField(default=False)
    calibration = models.ForeignKey(
        "CalibrationSession",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reviews",
    )

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["agent", "status", "-submitted_at"], name="qa_review_agent_idx"),
            models.Index(fields=["reviewer", "status"], name="qa_review_reviewer_idx"),
            models.Index(fields=["conversation", "status"], name="qa_review_conv_idx"),
            models.Index(
                fields=["release_at"],
                condition=Q(status=ReviewStatus.SUBMITTED, release_notified_at__isnull=True),
                name="qa_review_release_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(calibration__isnull=True) | Q(is_calibration=True),
                name="qa_review_calibration_flagged",
            ),
            models.UniqueConstraint(
                fields=["calibration", "conversation", "reviewer"],
                condition=Q(calibration__isnull=False),
                name="qa_review_calibration_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Review {self.pk} of {self.conversation_id}"

    @property
    def is_released(self) -> bool:
        return self.release_at is not None and self.release_at <= timezone.now()


class ReviewRevision(models.Model):
    """One frozen state of a review: its answers, feedback and scores, and why it exists."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=9, choices=RevisionSource.choices)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    score = models.DecimalField(null=True, blank=True, max_digits=4, decimal_places=1)
    passed_critical = models.BooleanField(null=True, blank=True)
    # Per segment: {"HUMAN_AGENT": {"score", "weighted_score", "critical_score",
    # "passed_critical", "failed_critical"}} from apps.rubrics.scoring.
    segment_scores = models.JSONField(default=dict, blank=True)
    strengths = models.TextField(blank=True)
    improvements = models.TextField(blank=True)
    dispute = models.ForeignKey(
        "Dispute", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["review_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["review", "number"], name="qa_revision_number"),
        ]

    def __str__(self) -> str:
        return f"Review {self.review_id} r{self.number}"


class ReviewAnswer(models.Model):
    """A human answer to one criterion for one segment, with what the AI had suggested.

    ``ai_outcome`` is empty where the AI gave no suggestion; ``agreed`` is None then, else
    whether the human kept the AI's outcome (the agreement statistics read these rows).
    ``evidence`` lists the primary keys of the transcript lines the reviewer attached.
    """

    revision = models.ForeignKey(ReviewRevision, on_delete=models.CASCADE, related_name="answers")
    segment = models.CharField(max_length=SEGMENT_LENGTH)
    criterion_key = models.CharField(max_length=KEY_LENGTH)
    outcome = models.CharField(max_length=OUTCOME_LENGTH)
    ai_outcome = models.CharField(max_length=OUTCOME_LENGTH, blank=True)
    agreed = models.BooleanField(null=True, blank=True)
    comment = models.TextField(blank=True)
    evidence = ArrayField(models.BigIntegerField(), default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["revision_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["revision", "segment", "criterion_key"], name="qa_answer_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_key}: {self.outcome}"


class DisputeQuerySet(models.QuerySet["Dispute"]):
    def for_user(self, user: Person) -> DisputeQuerySet:
        """Disputes of the reviews ``user`` may read."""
        return self.filter(review__in=Review.objects.for_user(user).values("pk"))


class Dispute(TimeStampedModel):
    """An agent contesting a released review, whole or criterion by criterion, with a reason.

    Decided by an admin or a QA analyst other than the reviewer: accepted (every proposed
    change), partly accepted, or rejected, with a reason. A decision that changes answers makes a
    new revision of the review (``resulting_revision``).
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="disputes")
    revision_number = models.PositiveSmallIntegerField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    whole_review = models.BooleanField(default=False)
    reason = models.TextField()
    proposal = models.TextField(blank=True)
    status = models.CharField(
        max_length=8, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    resulting_revision = models.ForeignKey(
        ReviewRevision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = DisputeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="qa_dispute_status_idx"),
            models.Index(fields=["review", "status"], name="qa_dispute_review_idx"),
        ]

    def __str__(self) -> str:
        return f"Dispute {self.pk} of review {self.review_id}"


class DisputeItem(models.Model):
    """One contested criterion: its outcome when contested, the agent's proposal, the decision."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="items")
    segment = models.CharField(max_length=SEGMENT_LENGTH)
    criterion_key = models.CharField(max_length=KEY_LENGTH)
    current_outcome = models.CharField(max_length=OUTCOME_LENGTH)
    proposed_outcome = models.CharField(max_length=OUTCOME_LENGTH)
    accepted = models.BooleanField(null=True, blank=True)
    final_outcome = models.CharField(max_length=OUTCOME_LENGTH, blank=True)

    class Meta:
        ordering = ["dispute_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dispute", "segment", "criterion_key"], name="qa_dispute_item_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_key}: {self.current_outcome} → {self.proposed_outcome}"


# Calibration ----------------------------------------------------------------------------------


class CalibrationSessionQuerySet(models.QuerySet["CalibrationSession"]):
    def for_user(self, user: Person) -> CalibrationSessionQuerySet:
        """Every session for those who run calibration (admins); the sessions they take part
        in for everyone else who reviews; none for anyone else."""
        from apps.accounts.scoping import can_use

        if can_use(user, "qa_calibration_admin"):
            return self
        if can_use(user, "qa_review"):
            return self.filter(participants__user_id=user.pk).distinct()
        return self.none()


class CalibrationSession(TimeStampedModel):
    """Several people (and, if chosen, the AI) answer the same conversations against one rubric
    version, to see how far they agree. Its answers are reviews with ``calibration`` set (one
    per participant and conversation, through queue items of source CALIBRATION); they never
    count in agents' scores nor reach agents.

    Blind: nobody sees another participant's answers (nor the AI's) until the session closes.
    The benchmark per conversation and criterion is an expert participant's answer
    (``benchmark_mode`` EXPERT, ``expert``) or set after discussion (CONSENSUS); either way
    :class:`CalibrationBenchmark` rows hold it once set, so it can be corrected.
    """

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", on_delete=models.PROTECT, related_name="+"
    )
    conversations = models.ManyToManyField(
        Conversation, through="CalibrationConversation", related_name="+"
    )
    blind = models.BooleanField(default=True)
    include_ai = models.BooleanField(default=True)
    deadline = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=6, choices=CalibrationStatus.choices, default=CalibrationStatus.OPEN
    )
    benchmark_mode = models.CharField(
        max_length=9, choices=BenchmarkMode.choices, default=BenchmarkMode.CONSENSUS
    )
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    discussion = models.TextField(blank=True)

    objects = CalibrationSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="qa_calib_status_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == CalibrationStatus.OPEN


class CalibrationConversation(models.Model):
    """A conversation of a session, with the AI's answers as they stood when it was added
    (``ai``: the same snapshot a review keeps), so the AI answers like any participant."""

    session = models.ForeignKey(
        CalibrationSession, on_delete=models.CASCADE, related_name="session_conversations"
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    segments = ArrayField(models.CharField(max_length=SEGMENT_LENGTH), default=list)
    ai = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["session_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "conversation"], name="qa_calib_conversation_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.conversation_id}"


class CalibrationParticipant(models.Model):
    session = models.ForeignKey(
        CalibrationSession, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["session_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="qa_calib_participant_once"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.user_id}"


class CalibrationBenchmark(models.Model):
    """The agreed answer to one criterion of one conversation of a session."""

    session = models.ForeignKey(
        CalibrationSession, on_delete=models.CASCADE, related_name="benchmarks"
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    segment = models.CharField(max_length=SEGMENT_LENGTH)
    criterion_key = models.CharField(max_length=KEY_LENGTH)
    outcome = models.CharField(max_length=OUTCOME_LENGTH)
    note = models.TextField(blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session_id", "conversation_id", "segment", "criterion_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "conversation", "segment", "criterion_key"],
                name="qa_calib_benchmark_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_key}: {self.outcome}"


# The AI as a rater ------------------------------------------------------------------------------


class CriterionTrust(models.Model):
    """How far the AI's answers to one criterion of one rubric version are trusted, and the
    figures that decided it (``apps.qa.services.trust``). No row: REVIEW (the default)."""

    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", on_delete=models.CASCADE, related_name="+"
    )
    criterion_key = models.CharField(max_length=KEY_LENGTH)
    tier = models.CharField(max_length=7, choices=TrustTier.choices, default=TrustTier.REVIEW)
    n = models.PositiveIntegerField(default=0)
    agreement = models.FloatField(null=True, blank=True)
    kappa = models.FloatField(null=True, blank=True)
    kappa_low = models.FloatField(null=True, blank=True)
    kappa_high = models.FloatField(null=True, blank=True)
    disputes_lost = models.PositiveIntegerField(default=0)
    # Why the figures earn this tier, in words ("κ lower bound 0.62 < 0.80 with n = 140").
    reason = models.TextField(blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rubric_version_id", "criterion_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["rubric_version", "criterion_key"], name="qa_trust_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_key}: {self.tier}"


class TrustChange(models.Model):
    """A criterion moving from one tier to another, with the figures that moved it."""

    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", on_delete=models.CASCADE, related_name="+"
    )
    criterion_key = models.CharField(max_length=KEY_LENGTH)
    from_tier = models.CharField(max_length=7, choices=TrustTier.choices)
    to_tier = models.CharField(max_length=7, choices=TrustTier.choices)
    figures = models.JSONField(default=dict)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["rubric_version", "-at"], name="qa_trust_change_version_idx")
        ]

    def __str__(self) -> str:
        return f"{self.criterion_key}: {self.from_tier} → {self.to_tier}"


class AiScore(models.Model):
    """A closed conversation's score from the AI's answers to the TRUSTED criteria only: QA on
    every conversation, kept apart from people's review scores. ``outcomes`` maps each trusted
    criterion to the AI's outcome; a criterion without an AI answer is left out, not failed."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", on_delete=models.CASCADE, related_name="+"
    )
    agent = models.ForeignKey(
        "accounts.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    segment = models.CharField(max_length=SEGMENT_LENGTH)
    score = models.DecimalField(null=True, blank=True, max_digits=4, decimal_places=1)
    passed_critical = models.BooleanField(null=True, blank=True)
    outcomes = models.JSONField(default=dict)
    criteria_count = models.PositiveSmallIntegerField(default=0)
    result_id = models.BigIntegerField(null=True, blank=True)  # the operator result it read
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-computed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "rubric_version"], name="qa_ai_score_once"
            ),
        ]
        indexes = [models.Index(fields=["agent", "-computed_at"], name="qa_ai_score_agent_idx")]

    def __str__(self) -> str:
        return f"AI score {self.score} of {self.conversation_id}"


# Rubric impact preview ---------------------------------------------------------------------------


class ImpactPreview(TimeStampedModel):
    """A draft rubric version re-scoring stored conversations before it is published: the
    deterministic checks over stored transcripts, the stored answers where a criterion is
    unchanged from ``baseline_version``. Runs in Celery; ``done`` of ``total`` is its progress.
    ``structure_hash`` says which state of the draft was previewed (a later edit makes it stale).
    ``summary`` holds the per-team and per-agent deltas and the newly failing criteria."""

    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", on_delete=models.CASCADE, related_name="+"
    )
    baseline_version = models.ForeignKey(
        "rubrics.RubricVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    structure_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=7, choices=PreviewStatus.choices, default=PreviewStatus.QUEUED
    )
    days = models.PositiveSmallIntegerField(default=30)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Impact preview {self.pk} of version {self.rubric_version_id}"


class ImpactRow(models.Model):
    """One conversation of a preview: its score before and after, and what newly fails."""

    preview = models.ForeignKey(ImpactPreview, on_delete=models.CASCADE, related_name="rows")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        "accounts.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    before = models.DecimalField(null=True, blank=True, max_digits=4, decimal_places=1)
    after = models.DecimalField(null=True, blank=True, max_digits=4, decimal_places=1)
    newly_failing = ArrayField(models.CharField(max_length=KEY_LENGTH), default=list, blank=True)

    class Meta:
        ordering = ["preview_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["preview", "conversation"], name="qa_impact_row_once"),
        ]
        indexes = [models.Index(fields=["preview", "agent"], name="qa_impact_row_agent_idx")]

    def __str__(self) -> str:
        return f"{self.preview_id}: {self.conversation_id}"
