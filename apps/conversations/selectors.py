"""Reads of conversations, always scoped to the user asking."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from .models import Communication, Conversation, Participant

# A correlated count: PostgreSQL computes it only for the rows of the page, not the whole table.
_communication_count = (
    Communication.objects.filter(conversation=OuterRef("pk"))
    .order_by()
    .values("conversation")
    .annotate(n=Count("*"))
    .values("n")
)


def conversation_list(*, user: Any) -> QuerySet[Conversation]:
    """Conversations ``user`` may see, with what a list row shows, in a fixed number of queries."""
    return (
        Conversation.objects.for_user(user)
        .select_related("team")
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Participant.objects.select_related("agent").order_by("joined_at", "id"),
            )
        )
        .annotate(communication_count=Coalesce(Subquery(_communication_count), 0))
        .order_by("-started_at", "-id")
    )


def conversation_get(*, user: Any, pk: int) -> Conversation:
    """One conversation ``user`` may see; 404 for anything else, so ids do not leak."""
    conversation = (
        Conversation.objects.for_user(user)
        .select_related("team")
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Participant.objects.select_related("agent", "agent__team"),
            )
        )
        .filter(pk=pk)
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def communication_timeline(*, conversation: Conversation) -> QuerySet[Communication]:
    """The transcript in spoken order, with each line's author."""
    return (
        Communication.objects.filter(conversation=conversation)
        .select_related("author")
        .order_by("occurred_at", "offset_ms", "id")
    )


def participant_list(*, user: Any) -> QuerySet[Participant]:
    return Participant.objects.for_user(user).select_related("agent", "conversation")


def communication_list(*, user: Any) -> QuerySet[Communication]:
    return Communication.objects.for_user(user).select_related("author", "conversation")
