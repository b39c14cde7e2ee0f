"""Enterprise knowledge and Conversation Memory.

The tables were made by the intelligence app and keep its names (``db_table``): the models moved
here without moving any data (migrations 0001 of knowledge, 0003 of intelligence).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models

from apps.common.models import TimeStampedModel
from apps.conversations.models import Conversation

from .choices import ObservationSource


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
    def for_user(self, user: Any) -> CustomerProfileQuerySet:
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


class Observation(TimeStampedModel):
    """Something learnt about a customer that carries over to their next conversations."""

    profile = models.ForeignKey(
        CustomerProfile, on_delete=models.CASCADE, related_name="observations"
    )
    text = models.TextField()
    digest = models.CharField(max_length=64)
    source = models.CharField(max_length=10, choices=ObservationSource.choices)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    operator_result = models.ForeignKey(
        "intelligence.OperatorResult",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "intelligence_observation"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "digest"], name="observation_once"),
        ]
