"""Conversations as Twilio Conversation Orchestrator sends them: participants and communications.

Twilio ids are opaque strings (their formats vary between docs, SDKs and fixtures) and unique.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Upper

from apps.accounts.models import Agent
from apps.accounts.scoping import Reach, scope_for
from apps.common.models import TimeStampedModel

from .choices import AccessChannel, ContentType, ConversationStatus, ParticipantType
from .fields import ConversationMonthField

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

TWILIO_ID_LENGTH = 128


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def for_user(self, user: Person) -> ConversationQuerySet:
        """Only the conversations ``user`` may see (see apps.accounts.scoping)."""
        scope = scope_for(user)
        if scope.reach is Reach.EVERYTHING:
            return self
        # Uncorrelated "id IN (...)" sets rather than EXISTS per row: PostgreSQL hashes each set
        # once (index-only scans of participant_agent_conv_idx), whatever plan it picks for the
        # rest; a correlated EXISTS under an OR was re-run for each candidate row of a search.
        if scope.reach is Reach.TEAMS:
            team_agents_in = Participant.objects.filter(agent__team_id__in=scope.team_ids).values(
                "conversation_id"
            )
            return self.filter(Q(team_id__in=scope.team_ids) | Q(pk__in=team_agents_in))
        if scope.reach is Reach.OWN and scope.user_id is not None:
            # The agent ids first (one small query): with literal ids PostgreSQL reads the
            # agent's share of the participants from the index statistics and hashes the set;
            # through a join to the agents it guessed low and walked the newest conversations,
            # probing the participants of each (an agent's page 50 at a million lines: 150 ms).
            agent_ids = list(
                Agent.objects.filter(user_id=scope.user_id).values_list("pk", flat=True)
            )
            own = Participant.objects.filter(agent_id__in=agent_ids).values("conversation_id")
            return self.filter(pk__in=own)
        return self.none()


def visible_rows(user: Person, *, field: str = "conversation") -> Q:
    """The condition for another model's rows (``field``: their key to a conversation) to be
    of conversations ``user`` may see: the same conversations as ``for_user``, decided row by
    row for a team's scope (the conversation's team, else its participants' agents' teams).

    ``for_user``'s set hashes every conversation and participation of the teams before
    checking a single row (60,000 of each for a coach of two teams at a million lines): right
    for the conversation lists and for counting tens of thousands of rows, 50 ms of waste for
    the 2,700 QA reviews. Here each row's conversation is probed by primary key, and its
    participants only when the conversation is not one of the teams' own. Per row, so only
    for rows far fewer than the scope's conversations (for 27,000 queue items the set is
    cheaper).
    """
    scope = scope_for(user)
    if scope.reach is Reach.EVERYTHING:
        return Q()
    if scope.reach is Reach.TEAMS:
        by_agent = Participant.objects.filter(
            conversation=OuterRef("pk"), agent__team_id__in=scope.team_ids
        )
        visible = Conversation.objects.filter(
            Q(team_id__in=scope.team_ids) | Exists(by_agent), pk=OuterRef(field)
        )
        return Q(Exists(visible))
    return Q(**{f"{field}__in": Conversation.objects.for_user(user).values("pk")})


class Conversation(TimeStampedModel):
    """One customer conversation, possibly spanning channels (a call, then an SMS)."""

    twilio_id = models.CharField(max_length=TWILIO_ID_LENGTH, unique=True)
    account_id = models.CharField(max_length=64, blank=True)
    configuration_id = models.CharField(max_length=TWILIO_ID_LENGTH, blank=True)
    name = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.ACTIVE
    )
    channels = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    call_sids = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    queue = models.CharField(max_length=120, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Twilio's own updatedAt of the last state applied: an older event never overwrites newer state.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    # Created because a participant/communication/result arrived before the conversation itself.
    is_placeholder = models.BooleanField(default=False)
    # A transcript to be read only with a reason (docs/security.md, "Transcript access log"):
    # set at ingest when redaction masked a card number or an SSN in it, or by QA or an admin.
    sensitive = models.BooleanField(default=False)
    sensitive_reason = models.CharField(max_length=300, blank=True)
    sensitive_marked_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sensitive_marked_at = models.DateTimeField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The list's order. It carries the team so that a team-scoped list (supervisor,
            # coach) pages and counts from the index alone (no heap visit per row).
            models.Index(fields=["-started_at", "-id"], name="conv_started_idx", include=["team"]),
            models.Index(fields=["team", "-started_at"], name="conv_team_started_idx"),
            models.Index(fields=["status", "-started_at"], name="conv_status_started_idx"),
            GinIndex(fields=["call_sids"], name="conv_call_sids_gin"),
            GinIndex(fields=["channels"], name="conv_channels_gin"),
            # The list's search matches names and queues by substring (icontains: UPPER LIKE).
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="conv_name_trgm"),
            GinIndex(OpClass(Upper("queue"), name="gin_trgm_ops"), name="conv_queue_trgm"),
        ]

    def __str__(self) -> str:
        return self.name or self.twilio_id

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


class ParticipantQuerySet(models.QuerySet["Participant"]):
    def for_user(self, user: Person) -> ParticipantQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Participant(TimeStampedModel):
    """Someone in a conversation: a customer, a human agent or an AI agent."""

    twilio_id = models.CharField(max_length=TWILIO_ID_LENGTH, unique=True)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    type = models.CharField(
        max_length=12, choices=ParticipantType.choices, default=ParticipantType.UNKNOWN
    )
    name = models.CharField(max_length=255, blank=True)
    addresses = models.JSONField(default=list, blank=True)
    profile_id = models.CharField(max_length=TWILIO_ID_LENGTH, blank=True, db_index=True)
    agent = models.ForeignKey(
        "accounts.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="participations",
    )
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        ordering = ["conversation_id", "joined_at", "id"]
        indexes = [
            models.Index(fields=["agent", "conversation"], name="participant_agent_conv_idx"),
            models.Index(fields=["conversation", "type"], name="participant_conv_type_idx"),
            # The conversation list's search matches participants' names by substring.
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="participant_name_trgm"),
        ]

    def __str__(self) -> str:
        return self.name or self.twilio_id

    @property
    def is_agent(self) -> bool:
        return self.type in (
            ParticipantType.HUMAN_AGENT,
            ParticipantType.AI_AGENT,
            ParticipantType.AGENT,
        )


class CommunicationQuerySet(models.QuerySet["Communication"]):
    def for_user(self, user: Person) -> CommunicationQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Communication(TimeStampedModel):
    """A message or a transcribed voice utterance.

    The table is partitioned by ``conversation_month`` (migration 0007; docs/scaling.md,
    "Partitioning"): its primary key in the database is (id, conversation_month), and
    ``twilio_id`` is unique across all months through ``CommunicationKey`` (a trigger claims the
    key at insert and raises a unique violation for a second row with the same id).
    """

    twilio_id = models.CharField(max_length=TWILIO_ID_LENGTH, db_index=True)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="communications"
    )
    conversation_month = ConversationMonthField()
    author = models.ForeignKey(
        Participant,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="communications",
    )
    author_address = models.CharField(max_length=255, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    content_type = models.CharField(
        max_length=16, choices=ContentType.choices, default=ContentType.TEXT
    )
    text = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    offset_ms = models.IntegerField(null=True, blank=True, help_text="From the conversation start")
    duration_ms = models.IntegerField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True, help_text="Transcription confidence 0..1")
    # CallSid for voice, MessageSid for messaging.
    channel_id = models.CharField(max_length=64, blank=True, db_index=True)
    resource_id = models.CharField(max_length=TWILIO_ID_LENGTH, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)

    objects = CommunicationQuerySet.as_manager()

    class Meta:
        ordering = ["conversation_id", "occurred_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "occurred_at"], name="comm_conv_occurred_idx"),
            # The API list's cursor (every line in scope, oldest first).
            models.Index(fields=["occurred_at", "id"], name="comm_occurred_idx"),
            GinIndex(SearchVector("text", config="english"), name="comm_text_search_gin"),
        ]

    def __str__(self) -> str:
        return self.text[:60] or self.twilio_id


class CommunicationKey(models.Model):
    """The Twilio ids of all communications, unique across the monthly partitions.

    Kept by triggers on ``conversations_communication`` (migration 0007), never by the code: a
    row's insert claims its id here, its delete frees it.
    """

    twilio_id = models.CharField(max_length=TWILIO_ID_LENGTH, unique=True)
    conversation_month = models.DateField()
    communication_id = models.BigIntegerField()

    def __str__(self) -> str:
        return self.twilio_id


class CallQuerySet(models.QuerySet["Call"]):
    def for_user(self, user: Person) -> CallQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Call(TimeStampedModel):
    """A voice call (Call SID) and its status from Twilio's voice status callbacks.

    A call may be known before its conversation (status callbacks race Orchestrator events); the
    link is made when a communication's ``channelId`` or a result's ``referenceIds`` names it.
    """

    call_sid = models.CharField(max_length=64, unique=True)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    status = models.CharField(max_length=20, blank=True)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)
    direction = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.IntegerField(null=True, blank=True)
    # Ordering of status callbacks is not guaranteed: keep the highest SequenceNumber/time applied.
    last_sequence = models.IntegerField(null=True, blank=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.call_sid


class TranscriptAccess(models.Model):
    """One read of a conversation's transcript text: who, which, how, when and why.

    Append-only: a PostgreSQL trigger (migration 0003) rejects every UPDATE, and every DELETE
    unless the transaction has set ``ccportal.retention = 'on'`` (the retention purge,
    ``services.access_log_purge``). The log outlives what it names: the user and conversation
    are kept by id without a database constraint (deleting either leaves the rows alone, which
    the trigger would refuse anyway), and their names are copied in at the read.
    Written by ``services.transcript_access_record`` only (one INSERT).
    """

    user = models.ForeignKey(
        "accounts.User",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150)
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    conversation_twilio_id = models.CharField(max_length=TWILIO_ID_LENGTH)
    channel = models.CharField(max_length=8, choices=AccessChannel.choices)
    reason = models.TextField(blank=True)
    # Whether the conversation was marked sensitive when it was read.
    sensitive = models.BooleanField(default=False)
    path = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="access_created_idx"),
            # The dedupe check of every read, and "who read this conversation".
            models.Index(
                fields=["conversation", "user", "channel", "-created_at"],
                name="access_conv_user_idx",
            ),
            models.Index(fields=["user", "-created_at"], name="access_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.username} read {self.conversation_twilio_id} ({self.channel})"
