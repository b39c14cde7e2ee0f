"""Filters for conversation lists, shared by the page and the API so both behave the same."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.accounts.models import Agent, Team

from .choices import ConversationStatus, ParticipantType
from .models import Communication, Conversation, Participant


class ConversationFilter(django_filters.FilterSet):
    agent = django_filters.ModelChoiceFilter(
        queryset=Agent.objects.all(), method="filter_agent", label="Agent"
    )
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.all(), label="Team")
    status = django_filters.ChoiceFilter(choices=ConversationStatus.choices)
    channel = django_filters.CharFilter(method="filter_channel", label="Channel")
    queue = django_filters.CharFilter(field_name="queue", lookup_expr="iexact")
    started_after = django_filters.DateFilter(
        field_name="started_at", lookup_expr="date__gte", label="From"
    )
    started_before = django_filters.DateFilter(
        field_name="started_at", lookup_expr="date__lte", label="To"
    )
    call_sid = django_filters.CharFilter(method="filter_call_sid", label="Call SID")
    q = django_filters.CharFilter(method="filter_search", label="Search")

    class Meta:
        model = Conversation
        fields = ["agent", "team", "status", "channel", "queue", "started_after", "started_before"]

    def filter_agent(self, queryset: QuerySet[Conversation], name: str, value: Agent | None) -> Any:
        if value is None:
            return queryset
        return queryset.filter(
            Exists(Participant.objects.filter(conversation=OuterRef("pk"), agent=value))
        )

    def filter_channel(self, queryset: QuerySet[Conversation], name: str, value: str) -> Any:
        return queryset.filter(channels__contains=[value.upper()]) if value else queryset

    def filter_call_sid(self, queryset: QuerySet[Conversation], name: str, value: str) -> Any:
        return queryset.filter(call_sids__contains=[value.strip()]) if value else queryset

    def filter_search(self, queryset: QuerySet[Conversation], name: str, value: str) -> Any:
        """Full-text search over transcripts, plus names, ids and queue by substring."""
        value = value.strip()
        if not value:
            return queryset
        transcript_hit = Communication.objects.annotate(
            search=SearchVector("text", config="english")
        ).filter(
            conversation=OuterRef("pk"),
            search=SearchQuery(value, config="english", search_type="websearch"),
        )
        participant_hit = Participant.objects.filter(
            Q(name__icontains=value) | Q(twilio_id=value), conversation=OuterRef("pk")
        )
        return queryset.filter(
            Exists(transcript_hit)
            | Exists(participant_hit)
            | Q(twilio_id=value)
            | Q(name__icontains=value)
            | Q(queue__icontains=value)
            | Q(call_sids__contains=[value])
        )


def participant_type_choices() -> list[tuple[str, str]]:
    return list(ParticipantType.choices)
