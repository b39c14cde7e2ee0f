"""Filters for the participant and communication API lists (the pages list conversations only).

Conversations use ``apps.conversations.filters.ConversationFilter``, shared with the page.
Related rows are filtered by plain ids rather than model choices: an id outside the caller's
scope then matches nothing instead of answering "no such row", which would tell them it exists.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import QuerySet

from ccportal.viewsets import DateTimeFilter, IdFilter

from ..choices import ContentType, ParticipantType
from ..models import Communication, Participant


class ParticipantFilter(django_filters.FilterSet):
    conversation = IdFilter(field_name="conversation__id", label="Conversation id")
    type = django_filters.ChoiceFilter(choices=ParticipantType.choices, label="Participant type")
    agent = IdFilter(field_name="agent__id", label="Agent id")

    class Meta:
        model = Participant
        fields = ["conversation", "type", "agent"]


class CommunicationFilter(django_filters.FilterSet):
    conversation = IdFilter(field_name="conversation__id", label="Conversation id")
    author = IdFilter(field_name="author__id", label="Author (participant) id")
    channel = django_filters.CharFilter(
        field_name="channel", lookup_expr="iexact", label="Channel, e.g. VOICE or SMS"
    )
    content_type = django_filters.ChoiceFilter(choices=ContentType.choices, label="Content type")
    occurred_after = DateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        label="Occurred at or after (ISO 8601 date or date-time)",
    )
    occurred_before = DateTimeFilter(
        field_name="occurred_at",
        lookup_expr="lt",
        label="Occurred before (ISO 8601 date or date-time)",
    )
    q = django_filters.CharFilter(
        method="filter_search", label="Full-text search of the text (web search syntax)"
    )

    class Meta:
        model = Communication
        fields = [
            "conversation",
            "author",
            "channel",
            "content_type",
            "occurred_after",
            "occurred_before",
            "q",
        ]

    def filter_search(self, queryset: QuerySet[Communication], name: str, value: str) -> Any:
        value = value.strip()
        if not value:
            return queryset
        # The same expression as the GIN index on Communication.text, so PostgreSQL can use it.
        return queryset.annotate(search=SearchVector("text", config="english")).filter(
            search=SearchQuery(value, config="english", search_type="websearch")
        )
