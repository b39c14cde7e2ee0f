"""What insights keeps: one fact row per conversation, its per-criterion outcomes and scored
suggestions, the rollups derived from the facts, and the two work logs between them.

Every figure on a dashboard is derived from ``ConversationFact``: the rollups are sums of fact
columns per bucket (day x team x agent x queue x channel), rebuilt whole from the facts, so they
can always be recomputed and never drift. The SQL that fills the facts is in ``sql.py``; what
each column means is documented there and in ``docs/insights.md``.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.accounts.models import Agent, Team
from apps.conversations.models import Communication, Conversation

from .choices import LabelKind, Mix

QUEUE_LENGTH = 120
CHANNEL_LENGTH = 20
LABEL_LENGTH = 200


class ConversationFact(models.Model):
    """One conversation, reduced to what the figures need. Recomputed by ``sql.FACTS`` whenever
    an input changes; ``day`` is the start date in the portal's time zone (``TIME_ZONE``)."""

    conversation = models.OneToOneField(
        Conversation, primary_key=True, on_delete=models.CASCADE, related_name="fact"
    )
    day = models.DateField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    closed = models.BooleanField(default=False)
    team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="+")
    agent = models.ForeignKey(Agent, null=True, on_delete=models.SET_NULL, related_name="+")
    agent_ids = ArrayField(models.IntegerField(), default=list)
    queue = models.CharField(max_length=QUEUE_LENGTH, default="")
    channel = models.CharField(max_length=CHANNEL_LENGTH, default="")
    mix = models.CharField(max_length=8, choices=Mix.choices)
    communications = models.IntegerField(default=0)
    handle_seconds = models.FloatField(null=True)
    first_response_seconds = models.FloatField(null=True)
    ai_first_word_seconds = models.FloatField(null=True)
    sentiment_start = models.FloatField(null=True)
    sentiment_end = models.FloatField(null=True)
    sentiment_delta = models.FloatField(null=True)
    sentiment_label = models.CharField(max_length=20, default="")
    ai_adherence_score = models.FloatField(null=True)
    qa_score = models.FloatField(null=True)
    qa_review_id = models.BigIntegerField(null=True)
    qa_revision = models.SmallIntegerField(null=True)
    reviews = models.SmallIntegerField(default=0)
    critical_failed = models.BooleanField(null=True)
    flags = models.SmallIntegerField(default=0)
    handoff = models.BooleanField(default=False)
    handoff_reason = models.CharField(max_length=LABEL_LENGTH, default="")
    contained = models.BooleanField(null=True)
    disputes = models.SmallIntegerField(default=0)
    disputes_open = models.SmallIntegerField(default=0)
    disputes_accepted = models.SmallIntegerField(default=0)  # accepted in full or in part
    disputes_rejected = models.SmallIntegerField(default=0)
    topic = models.CharField(max_length=LABEL_LENGTH, default="")
    outcome = models.CharField(max_length=LABEL_LENGTH, default="")
    outcome_source = models.CharField(max_length=20, default="")
    task_success = models.BooleanField(null=True)
    wrapup_edit = models.FloatField(null=True)  # 0 kept the AI's notes .. 1 rewrote them
    suggestions = models.SmallIntegerField(default=0)
    suggestion_closeness_sum = models.FloatField(default=0)
    suggestions_followed = models.SmallIntegerField(default=0)
    # Per criterion key, MET / NOT_MET / NA: as the AI judged it (the latest script adherence
    # result) and as a person did (the latest review's current revision, for the segment of the
    # agent the conversation counts for).
    ai_criteria = models.JSONField(default=dict)
    human_criteria = models.JSONField(default=dict)
    # The reference virtual agent's scoreboard (``apps.agent``: its sessions on the calls, and
    # their turns); empty without a session. ``sql.py`` defines each.
    va_outcome = models.CharField(max_length=20, default="")
    va_handoff_code = models.CharField(max_length=40, default="")
    va_turns = models.SmallIntegerField(default=0)
    # Per caller turn, in order (ms): percentiles are read from these, never summed.
    va_first_token_ms = ArrayField(models.FloatField(), default=list)
    va_first_helpful_ms = ArrayField(models.FloatField(), default=list)
    va_interruptions = models.SmallIntegerField(default=0)
    va_recovered = models.SmallIntegerField(default=0)
    va_task_success = models.BooleanField(null=True)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["day", "team", "agent"], name="fact_day_team_agent_idx"),
            models.Index(fields=["agent", "day"], name="fact_agent_day_idx"),
            models.Index(fields=["team", "day"], name="fact_team_day_idx"),
            models.Index(fields=["-started_at", "-conversation"], name="fact_started_idx"),
            # The virtual agent's scoreboard reads its calls' facts (percentiles, reasons): few
            # among all conversations, so a partial index instead of a scan of the period.
            models.Index(
                fields=["day"], condition=~models.Q(va_outcome=""), name="fact_va_day_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Facts of conversation {self.conversation_id}"


class SuggestionScore(models.Model):
    """How close the human agent's next turn came to one next-best-response suggestion: the
    share of the suggestion's content words the agent used (``suggestions.closeness``)."""

    result_id = models.BigIntegerField(primary_key=True)  # intelligence's OperatorResult
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="suggestion_scores"
    )
    operator = models.CharField(max_length=LABEL_LENGTH)  # "next-best-response v2"
    # No database constraint: communications are partitioned by month (docs/scaling.md).
    # Django's CASCADE still deletes the score with its line; a daily check finds dangling ids.
    reply = models.ForeignKey(
        Communication, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    closeness = models.FloatField(null=True)  # None: the suggestion had no content words

    def __str__(self) -> str:
        return f"Suggestion {self.result_id}: {self.closeness}"


class StaleConversation(models.Model):
    """A conversation whose facts are out of date: appended by writers (in their transaction),
    claimed and deleted by the fact refresh. Append-only, so writers never wait on each other;
    duplicates cost one extra recomputation at most."""

    id = models.BigAutoField(primary_key=True)
    conversation_id = models.BigIntegerField()
    marked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Conversation {self.conversation_id} stale since {self.marked_at}"


class DirtyBucket(models.Model):
    """A rollup bucket to rebuild from the facts: appended with the old and the new bucket of
    every fact that changed, claimed and deleted by the rollup refresh."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    team_id = models.BigIntegerField(null=True)
    agent_id = models.BigIntegerField(null=True)
    queue = models.CharField(max_length=QUEUE_LENGTH)
    channel = models.CharField(max_length=CHANNEL_LENGTH)

    def __str__(self) -> str:
        return f"Dirty bucket {self.day} {self.team_id} {self.agent_id} {self.queue} {self.channel}"


class BucketKey(models.Model):
    """The bucket every rollup row belongs to; NULL team or agent (an AI agent answered alone,
    no team known) is a bucket of its own (``nulls_distinct=False``)."""

    day = models.DateField()
    # No database constraint: rollups are derived, and a deleted team or agent must not block
    # (nor be blocked by) them; the next rebuild drops the bucket.
    team = models.ForeignKey(
        Team, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    agent = models.ForeignKey(
        Agent, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    queue = models.CharField(max_length=QUEUE_LENGTH)
    channel = models.CharField(max_length=CHANNEL_LENGTH)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.day} team {self.team_id} agent {self.agent_id}"


class Rollup(BucketKey):
    """Sums per bucket. Only additive columns: counts, sums, sums of squares, and the numerator
    and denominator of every rate; averages, rates and intervals are derived when read."""

    conversations = models.IntegerField()
    closed = models.IntegerField()
    handle_n = models.IntegerField()
    handle_sum = models.FloatField()
    handle_sq = models.FloatField()
    first_response_n = models.IntegerField()
    first_response_sum = models.FloatField()
    first_response_sq = models.FloatField()
    ai_first_word_n = models.IntegerField()
    ai_first_word_sum = models.FloatField()
    sentiment_n = models.IntegerField()
    sentiment_delta_sum = models.FloatField()
    sentiment_delta_sq = models.FloatField()
    sentiment_improved = models.IntegerField()
    sentiment_worsened = models.IntegerField()
    adherence_n = models.IntegerField()
    adherence_sum = models.FloatField()
    adherence_sq = models.FloatField()
    qa_n = models.IntegerField()
    qa_sum = models.FloatField()
    qa_sq = models.FloatField()
    critical_failed = models.IntegerField()
    reviews = models.IntegerField()
    flags = models.IntegerField()
    flagged = models.IntegerField()
    ai_handled = models.IntegerField()  # an AI agent took part
    ai_closed = models.IntegerField()  # ... and the conversation is closed
    contained = models.IntegerField()
    handoffs = models.IntegerField()
    outcome_n = models.IntegerField()
    task_success = models.IntegerField()
    ai_outcome_n = models.IntegerField(default=0)  # outcome known, an AI agent took part
    ai_task_success = models.IntegerField(default=0)
    disputes = models.IntegerField()
    disputes_open = models.IntegerField()
    disputes_accepted = models.IntegerField()
    disputes_rejected = models.IntegerField()
    suggestions = models.IntegerField()
    suggestion_closeness_sum = models.FloatField()
    suggestions_followed = models.IntegerField()
    wrapup_n = models.IntegerField()
    wrapup_edit_sum = models.FloatField()
    va_conversations = models.IntegerField(default=0)  # with a virtual agent session
    va_abandoned = models.IntegerField(default=0)
    va_closed = models.IntegerField(default=0)  # containment decided (closed, not abandoned)
    va_contained = models.IntegerField(default=0)
    va_turns = models.IntegerField(default=0)
    va_interruptions = models.IntegerField(default=0)
    va_recovered = models.IntegerField(default=0)
    va_task_n = models.IntegerField(default=0)  # task success decided
    va_task_success = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team", "agent", "queue", "channel"],
                name="rollup_bucket_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(fields=["team", "day"], name="rollup_team_day_idx"),
            models.Index(fields=["agent", "day"], name="rollup_agent_day_idx"),
        ]


class CriterionRollup(BucketKey):
    """Met / not met / N/A per criterion and bucket, as the AI judged and as reviewers did."""

    criterion_key = models.CharField(max_length=120)
    ai_met = models.IntegerField()
    ai_not_met = models.IntegerField()
    ai_na = models.IntegerField()
    human_met = models.IntegerField()
    human_not_met = models.IntegerField()
    human_na = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team", "agent", "queue", "channel", "criterion_key"],
                name="criterion_rollup_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["day"], name="criterion_rollup_day_idx")]


class LabelRollup(BucketKey):
    """Conversations per label and bucket: topics, outcomes, handoff reasons and, for each
    suggestion operator version, its suggestions (``value_n``) and their closeness sum."""

    kind = models.CharField(max_length=10, choices=LabelKind.choices)
    label = models.CharField(max_length=LABEL_LENGTH)
    conversations = models.IntegerField()
    value_n = models.IntegerField()
    value_sum = models.FloatField()
    value_hits = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team", "agent", "queue", "channel", "kind", "label"],
                name="label_rollup_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["day", "kind"], name="label_rollup_day_idx")]
