"""Enterprise knowledge and Conversation Memory.

The tables were made by the intelligence app and keep its names (``db_table``): the models moved
here without moving any data (migrations 0001 of knowledge, 0003 of intelligence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q

from apps.common.models import TimeStampedModel
from apps.conversations.models import Conversation

from .choices import ObservationSource

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


class KnowledgeArticle(TimeStampedModel):
    """Enterprise knowledge: what Next Best Response grounds its suggestions in."""

    title = models.CharField(max_length=255)
    body = models.TextField()
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    is_published = models.BooleanField(default=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("body", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "intelligence_knowledgearticle"  # made by the intelligence app; kept
        ordering = ["title", "id"]
        indexes = [
            GinIndex(fields=["search_vector"], name="knowledge_search_gin"),
            GinIndex(fields=["tags"], name="knowledge_tags_gin"),
        ]

    def __str__(self) -> str:
        return self.title


class CustomerProfileQuerySet(models.QuerySet["CustomerProfile"]):
    def for_user(self, user: Person) -> CustomerProfileQuerySet:
        from apps.accounts.scoping import Reach, scope_for

        if scope_for(user).reach == Reach.EVERYTHING:
            return self
        visible = Conversation.objects.for_user(user).values("pk")
        return self.filter(conversations__in=visible).distinct()


class CustomerProfile(TimeStampedModel):
    """Conversation Memory: one customer across conversations (Twilio profile id or address)."""

    key = models.CharField(max_length=300, unique=True)
    profile_id = models.CharField(max_length=128, blank=True)
    address = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    conversations = models.ManyToManyField(Conversation, blank=True, related_name="profiles")

    objects = CustomerProfileQuerySet.as_manager()

    class Meta:
        db_table = "intelligence_customerprofile"
        ordering = ["display_name", "key"]

    def __str__(self) -> str:
        return self.display_name or self.profile_id or self.address or self.key


class ObservationQuerySet(models.QuerySet["Observation"]):
    def for_user(self, user: Person) -> ObservationQuerySet:
        """What ``user`` may read: people's notes on the customer (meant for everyone who may
        see the customer), and what came from a conversation ``user`` may see."""
        return self.filter(
            Q(source=ObservationSource.USER, conversation__isnull=True)
            | Q(conversation__in=Conversation.objects.for_user(user).values("pk"))
        )

    def shared_with(self, conversation_id: int) -> ObservationQuerySet:
        """What a conversation's operators may be told: people's notes, what came from this
        conversation, and from others only what quotes no words of theirs (classifier labels).
        Text said in one conversation never reaches another one's results this way."""
        return self.filter(
            Q(source=ObservationSource.USER, conversation__isnull=True)
            | Q(conversation_id=conversation_id)
            | Q(quotes_conversation=False, conversation__isnull=False)
        )


class Observation(TimeStampedModel):
    """Something learnt about a customer that carries over to their next conversations.

    One from a conversation (an operator's) is shown only to people who may see that
    conversation; one that quotes it (a summary, extracted values, a language model's words)
    stays with it and is not given to other conversations' operators.
    """

    profile = models.ForeignKey(
        CustomerProfile, on_delete=models.CASCADE, related_name="observations"
    )
    text = models.TextField()
    digest = models.CharField(max_length=64)
    source = models.CharField(max_length=10, choices=ObservationSource.choices)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # No database constraint: operator results are partitioned by month (docs/scaling.md).
    # Django's SET_NULL still runs on delete; a daily check finds dangling ids.
    operator_result = models.ForeignKey(
        "intelligence.OperatorResult",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    quotes_conversation = models.BooleanField(
        default=True, help_text="Holds words of its conversation: it stays with that conversation"
    )

    objects = ObservationQuerySet.as_manager()

    class Meta:
        db_table = "intelligence_observation"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "digest"], name="observation_once"),
        ]


class ObservationDeletion(models.Model):
    """A forgotten observation: who deleted what, and when (read in the admin site)."""

    profile = models.ForeignKey(
        CustomerProfile, on_delete=models.CASCADE, related_name="observation_deletions"
    )
    observation_id = models.BigIntegerField()
    text = models.TextField()
    source = models.CharField(max_length=10, choices=ObservationSource.choices)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    deleted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-deleted_at", "-id"]

    def __str__(self) -> str:
        return f"observation {self.observation_id} of {self.profile_id}"
