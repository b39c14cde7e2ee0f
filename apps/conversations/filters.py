"""Filters for conversation lists, shared by the page and the API so both behave the same."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import django_filters
from django import forms
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from apps.accounts import selectors as accounts

from .choices import AccessChannel, Channel, ConversationStatus, ParticipantType
from .models import Communication, Conversation, Participant, TranscriptAccess

if TYPE_CHECKING:
    from apps.accounts.models import Agent
    from apps.accounts.scoping import Person


@extend_schema_field(OpenApiTypes.INT)
class ScopedChoiceFilter(django_filters.ModelChoiceFilter):
    """One of the caller's agents or teams, by id."""


def _agents(request: Any) -> QuerySet[Any]:
    return accounts.agent_choices(user=getattr(request, "user", None))


def _teams(request: Any) -> QuerySet[Any]:
    return accounts.team_choices(user=getattr(request, "user", None))


class ConversationFilter(django_filters.FilterSet):
    # Choices are the caller's scope (the request's user; the page's ``user``): an agent or team
    # outside it is "not a valid choice", exactly like one that does not exist.
    agent = ScopedChoiceFilter(queryset=_agents, method="filter_agent", label="Agent")
    team = ScopedChoiceFilter(queryset=_teams, label="Team")
    status = django_filters.ChoiceFilter(choices=ConversationStatus.choices)
    channel = django_filters.CharFilter(method="filter_channel", label="Channel")
    queue = django_filters.CharFilter(field_name="queue", lookup_expr="iexact")
    # Days in the current time zone, as ranges of ``started_at`` (not ``started_at::date``): a
    # range is a bound on the list index, the cast made every filtered list read all of it.
    started_after = django_filters.DateFilter(
        field_name="started_at", method="filter_started_after", label="From"
    )
    started_before = django_filters.DateFilter(
        field_name="started_at", method="filter_started_before", label="To"
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

    def filter_started_after(self, queryset: QuerySet[Conversation], name: str, value: date) -> Any:
        """Started on ``value`` or later (its date in the current time zone)."""
        return queryset.filter(started_at__gte=_day_start(value)) if value else queryset

    def filter_started_before(
        self, queryset: QuerySet[Conversation], name: str, value: date
    ) -> Any:
        """Started on ``value`` or earlier (its date in the current time zone)."""
        return (
            queryset.filter(started_at__lt=_day_start(value + timedelta(days=1)))
            if value
            else queryset
        )

    def filter_channel(self, queryset: QuerySet[Conversation], name: str, value: str) -> Any:
        return queryset.filter(channels__contains=[value.upper()]) if value else queryset

    def filter_call_sid(self, queryset: QuerySet[Conversation], name: str, value: str) -> Any:
        return queryset.filter(call_sids__contains=[value.strip()]) if value else queryset

    def filter_search(self, queryset: QuerySet[Conversation], name: str, value: str) -> Any:
        """Full-text search over transcripts, plus names, ids and queue by substring.

        The matching conversations are one set, a UNION of what each index finds (transcripts:
        the GIN full-text index; names and queues: trigram indexes; ids: their unique and GIN
        indexes), which PostgreSQL hashes once and checks each scoped row against. Written as
        ORs of EXISTS per conversation, it read every participant's name and every
        conversation's name and queue on each search."""
        value = value.strip()
        if not value:
            return queryset
        transcripts = (
            Communication.objects.annotate(search=SearchVector("text", config="english"))
            .filter(search=SearchQuery(value, config="english", search_type="websearch"))
            .order_by()
            .values("conversation_id")
        )
        participants = (
            Participant.objects.filter(Q(name__icontains=value) | Q(twilio_id=value))
            .order_by()
            .values("conversation_id")
        )
        conversations = (
            Conversation.objects.filter(
                Q(twilio_id=value)
                | Q(name__icontains=value)
                | Q(queue__icontains=value)
                | Q(call_sids__contains=[value])
            )
            .order_by()
            .values("pk")
        )
        return queryset.filter(pk__in=transcripts.union(participants, conversations))


def _day_start(day: date) -> datetime:
    """The first instant of ``day`` in the current time zone (what ``__date`` compares in)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _agent_label(agent: Agent) -> str:
    return f"{agent.display_name} · {agent.team.name}" if agent.team else agent.display_name


class ConversationFilterBarForm(forms.Form):
    """The list page's filter bar: Bootstrap widgets, friendly empty choices, marked errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields  # django-filter's fields: empty_label, label_from_instance
        fields["agent"].empty_label = "Any agent"
        # Names are unique within a team only: say which team in the dropdown.
        fields["agent"].label_from_instance = _agent_label
        fields["team"].empty_label = "Any team"
        fields["status"].empty_label = "Any status"
        # Re-set so the widget's choices iterate this field, not the filter's shared one.
        fields["status"].choices = ConversationStatus.choices
        fields["channel"].widget = forms.Select(choices=[("", "Any channel"), *Channel.choices])
        for name in ("started_after", "started_before"):
            fields[name].widget.input_type = "date"
            fields[name].error_messages["invalid"] = "Not a date; use YYYY-MM-DD."
        fields["agent"].error_messages["invalid_choice"] = "Unknown agent, or not one you can see."
        fields["team"].error_messages["invalid_choice"] = "Unknown team, or not one you can see."
        fields["status"].error_messages["invalid_choice"] = "Not a known status."
        fields["q"].widget.attrs.update(placeholder="Words said, names, ids…", type="search")
        for name, field in fields.items():
            is_select = isinstance(field.widget, forms.Select)
            css = "form-select form-select-sm" if is_select else "form-control form-control-sm"
            # Dropdowns and dates apply on change (with htmx); the search box on Enter.
            field.widget.attrs["class"] = css if name == "q" else f"{css} js-autosubmit"

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["class"] += " is-invalid"


class ConversationPageFilter(ConversationFilter):
    """``ConversationFilter`` for the list page: agent and team choices limited to ``user``'s scope.

    A choice outside the scope is then a form error shown by the filter, not a silent
    empty list, and the dropdowns never name agents or teams the user may not see.
    """

    class Meta(ConversationFilter.Meta):
        form = ConversationFilterBarForm

    def __init__(
        self, data: Any = None, queryset: Any = None, *, user: Person, **kwargs: Any
    ) -> None:
        super().__init__(data, queryset, **kwargs)
        self.filters["agent"].queryset = accounts.agent_choices(user=user)
        self.filters["team"].queryset = accounts.team_choices(user=user)

    @property
    def active(self) -> bool:
        """Whether any filter has a value (valid or not)."""
        return self.is_bound and any(
            str(self.data.get(name) or "").strip() for name in self.filters
        )


def participant_type_choices() -> list[tuple[str, str]]:
    return list(ParticipantType.choices)


class AccessLogFilter(django_filters.FilterSet):
    """Filters of the transcript access log, shared by its page and its API list."""

    user = django_filters.CharFilter(method="filter_user", label="User")
    conversation = django_filters.CharFilter(method="filter_conversation", label="Conversation")
    channel = django_filters.ChoiceFilter(choices=AccessChannel.choices)
    date_from = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="From"
    )
    date_to = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="To"
    )
    reason = django_filters.CharFilter(field_name="reason", lookup_expr="icontains", label="Reason")
    sensitive = django_filters.BooleanFilter(
        method="filter_sensitive", label="Sensitive only", widget=forms.CheckboxInput
    )

    class Meta:
        model = TranscriptAccess
        fields = ["user", "conversation", "channel", "date_from", "date_to", "reason", "sensitive"]

    @extend_schema_field(OpenApiTypes.STR)
    def filter_user(self, queryset: QuerySet[TranscriptAccess], name: str, value: str) -> Any:
        """A user id, or a username (exact, any case)."""
        value = value.strip()
        if not value:
            return queryset
        if value.isdecimal() and len(value) < 19:
            return queryset.filter(Q(user_id=int(value)) | Q(username__iexact=value))
        return queryset.filter(username__iexact=value)

    def filter_conversation(
        self, queryset: QuerySet[TranscriptAccess], name: str, value: str
    ) -> Any:
        """A conversation id, or its Twilio id."""
        value = value.strip().lstrip("#")
        if not value:
            return queryset
        if value.isdecimal() and len(value) < 19:
            return queryset.filter(Q(conversation_id=int(value)) | Q(conversation_twilio_id=value))
        return queryset.filter(conversation_twilio_id=value)

    def filter_sensitive(
        self, queryset: QuerySet[TranscriptAccess], name: str, value: bool | None
    ) -> Any:
        return queryset.filter(sensitive=True) if value else queryset


class AccessLogFilterBarForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["channel"].empty_label = "Any channel"
        fields["channel"].choices = AccessChannel.choices
        for name in ("date_from", "date_to"):
            fields[name].widget.input_type = "date"
            fields[name].error_messages["invalid"] = "Not a date; use YYYY-MM-DD."
        fields["channel"].error_messages["invalid_choice"] = "Not a known channel."
        fields["user"].widget.attrs.update(placeholder="Username or id")
        fields["conversation"].widget.attrs.update(placeholder="Id or Twilio id")
        fields["reason"].widget.attrs.update(placeholder="Words in the reason", type="search")
        for name, field in fields.items():
            if name == "sensitive":
                field.widget.attrs["class"] = "form-check-input"
                continue
            is_select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = (
                "form-select form-select-sm" if is_select else "form-control form-control-sm"
            )

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["class"] += " is-invalid"


class AccessLogPageFilter(AccessLogFilter):
    class Meta(AccessLogFilter.Meta):
        form = AccessLogFilterBarForm
