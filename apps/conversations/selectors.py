"""Reads of conversations, always scoped to the user asking."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.common.anonymise import ANONYMISED_TEXT, NO_WORDS_REGEX
from apps.common.errors import NotFound

from . import display
from .choices import AGENT_TYPES, ConversationStatus, ParticipantType
from .fields import month_of
from .models import (
    Call,
    Communication,
    Conversation,
    Participant,
    TranscriptAccess,
    visible_rows,
)

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

# A correlated count. PostgreSQL computes it for every row it reads, including the rows an OFFSET
# skips: lists page by ids first (``conversation_rows``), so it runs for a page's rows only.
_communication_count = (
    Communication.objects.filter(conversation=OuterRef("pk"))
    .order_by()
    .values("conversation")
    .annotate(n=Count("*"))
    .values("n")
)


def conversations_of(*, user: Person) -> QuerySet[Conversation]:
    """Every conversation ``user`` may see, unadorned: to filter or count other rows by."""
    return Conversation.objects.for_user(user)


def of_visible_conversations(*, user: Person, field: str = "conversation") -> Q:
    """The condition for other rows (``field``: their key to a conversation) to be of
    conversations ``user`` may see, checked row by row (``models.visible_rows``): for a few
    thousand rows, not for tens of thousands."""
    return visible_rows(user, field=field)


class ParticipantBrief(NamedTuple):
    type: str
    profile_id: str
    addresses: list[Any]
    name: str


def participants_brief(*, conversation_id: int) -> list[ParticipantBrief]:
    """Who took part in a conversation (no user: for the services that work on it)."""
    return [
        ParticipantBrief(*row)
        for row in Participant.objects.filter(conversation_id=conversation_id)
        .order_by("joined_at", "id")
        .values_list("type", "profile_id", "addresses", "name")
    ]


def conversations_by_id(*, ids: list[int]) -> QuerySet[Conversation]:
    """Conversations by primary key, in that order, for the services that work on them (no
    user: not for showing to a person)."""
    return Conversation.objects.filter(pk__in=ids).order_by("pk")


def communication_ids(*, conversation_id: int) -> list[int]:
    """The conversation's communications in the order they were stored."""
    return list(
        Communication.objects.filter(conversation_id=conversation_id)
        .order_by("id")
        .values_list("id", flat=True)
    )


def latest_communication_id(*, conversation_id: int) -> int | None:
    """The conversation's newest stored communication."""
    return (
        Communication.objects.filter(conversation_id=conversation_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


class TranscriptRow(NamedTuple):
    pk: int
    twilio_id: str
    author_type: str | None
    offset_ms: int | None
    duration_ms: int | None
    text: str


def transcript_rows(*, conversation_id: int) -> list[TranscriptRow]:
    """Every communication of the conversation in spoken order, with its author's type."""
    rows = (
        Communication.objects.filter(conversation_id=conversation_id)
        .order_by(F("offset_ms").asc(nulls_last=True), "occurred_at", "id")
        .values_list("pk", "twilio_id", "author__type", "offset_ms", "duration_ms", "text")
    )
    return [TranscriptRow(*row) for row in rows]


def transcript_rows_many(*, conversation_ids: Iterable[int]) -> dict[int, list[TranscriptRow]]:
    """``transcript_rows`` of several conversations in one query (every id is a key)."""
    wanted = sorted(set(conversation_ids))
    found: dict[int, list[TranscriptRow]] = {pk: [] for pk in wanted}
    if not wanted:
        return found
    rows = (
        Communication.objects.filter(conversation_id__in=wanted)
        .order_by("conversation_id", F("offset_ms").asc(nulls_last=True), "occurred_at", "id")
        .values_list(
            "conversation_id", "pk", "twilio_id", "author__type", "offset_ms", "duration_ms", "text"
        )
    )
    for conversation_id, pk, twilio_id, author_type, offset_ms, duration_ms, text in rows:
        found[conversation_id].append(
            TranscriptRow(pk, twilio_id, author_type, offset_ms, duration_ms, text)
        )
    return found


def conversation_for_call(*, call_sid: str) -> Conversation | None:
    return Conversation.objects.filter(
        Q(call_sids__contains=[call_sid]) | Q(calls__call_sid=call_sid)
    ).first()


def conversation_for_call_of(*, user: Person, call_sid: str) -> Conversation:
    """The conversation of a call (its Call SID) that ``user`` may see: the agent on the call,
    and whoever sees that agent's conversations. NotFound otherwise, or when no such call."""
    found = (
        conversation_list(user=user)
        .filter(Q(call_sids__contains=[call_sid]) | Q(calls__call_sid=call_sid))
        .order_by("-started_at", "-pk")
        .first()
    )
    if found is None:
        raise NotFound("No call with that Call SID among the conversations you may see.")
    return found


def conversation_list(*, user: Person) -> QuerySet[Conversation]:
    """Conversations ``user`` may see, with what a list row shows, in a fixed number of queries."""
    return _list_rows(Conversation.objects.for_user(user))


def conversation_rows(*, ids: QuerySet[Any]) -> QuerySet[Conversation]:
    """The list rows of ``ids`` (a subquery of a page's ids, read from ``conversation_list``
    with the caller's scope and filters: not scoped again), newest first."""
    return _list_rows(Conversation.objects.filter(pk__in=ids))


def _list_rows(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    return (
        conversations.select_related("team")
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Participant.objects.select_related("agent").order_by("joined_at", "id"),
            )
        )
        .annotate(communication_count=Coalesce(Subquery(_communication_count), 0))
        .order_by("-started_at", "-id")
    )


def conversation_get(*, user: Person, pk: int) -> Conversation:
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
        raise NotFound("No such conversation.")
    return conversation


def communication_timeline(*, conversation: Conversation) -> QuerySet[Communication]:
    """The transcript in spoken order, with each line's author.

    Given the conversation's month (its partition key), PostgreSQL reads one partition."""
    lines = Communication.objects.filter(conversation=conversation)
    if "created_at" not in conversation.get_deferred_fields() and conversation.created_at:
        lines = lines.filter(conversation_month=month_of(conversation.created_at))
    return lines.select_related("author").order_by("occurred_at", "offset_ms", "id")


def participant_list(*, user: Person) -> QuerySet[Participant]:
    return Participant.objects.for_user(user).select_related("agent", "conversation")


def communication_list(*, user: Person) -> QuerySet[Communication]:
    return Communication.objects.for_user(user).select_related("author", "conversation")


# For the QA queue and sampling (system reads: scope them with ``conversations_of`` first when a
# person is asking).


def conversations_unscoped() -> QuerySet[Conversation]:
    """Every conversation, for background work that acts for no particular person (sampling
    policies); never for showing to someone."""
    return Conversation.objects.all()


def _agent_participants() -> QuerySet[Participant]:
    return Participant.objects.filter(conversation=OuterRef("pk"), agent__isnull=False).order_by(
        "joined_at", "id"
    )


def with_agent_columns(conversations: QuerySet[Conversation]) -> QuerySet[Any]:
    """Adds ``primary_agent_id`` (the first participant linked to an agent), ``has_ai_agent`` and
    ``has_human_agent`` (participant types), for filtering and grouping by who handled it."""
    return conversations.annotate(
        primary_agent_id=Subquery(_agent_participants().values("agent_id")[:1]),
        has_ai_agent=Exists(
            Participant.objects.filter(conversation=OuterRef("pk"), type=ParticipantType.AI_AGENT)
        ),
        has_human_agent=Exists(
            Participant.objects.filter(
                conversation=OuterRef("pk"), type=ParticipantType.HUMAN_AGENT
            )
        ),
    )


class ConversationPeople(NamedTuple):
    """Who a conversation belongs to, for deciding who may review it."""

    team_id: int | None
    agent_ids: frozenset[int]
    agent_team_ids: frozenset[int]
    agent_user_ids: frozenset[int]  # the logins of its agents: they never review it
    participant_types: frozenset[str]


def conversation_people(*, ids: Iterable[int]) -> dict[int, ConversationPeople]:
    """``{conversation id: its team, agents, their teams and logins}`` in two queries."""
    wanted = list(set(ids))
    teams = dict(Conversation.objects.filter(pk__in=wanted).values_list("pk", "team_id"))
    found: dict[int, tuple[set[int], set[int], set[int], set[str]]] = {
        pk: (set(), set(), set(), set()) for pk in teams
    }
    rows = Participant.objects.filter(conversation_id__in=wanted).values_list(
        "conversation_id", "type", "agent_id", "agent__team_id", "agent__user_id"
    )
    for conversation_id, kind, agent_id, team_id, user_id in rows:
        agents, agent_teams, users, kinds = found[conversation_id]
        kinds.add(kind)
        if agent_id is not None:
            agents.add(agent_id)
        if team_id is not None:
            agent_teams.add(team_id)
        if user_id is not None:
            users.add(user_id)
    return {
        pk: ConversationPeople(teams[pk], frozenset(a), frozenset(t), frozenset(u), frozenset(k))
        for pk, (a, t, u, k) in found.items()
    }


def conversation_ids_handled_by(*, user_id: int) -> QuerySet[Any]:
    """The conversations in which ``user_id``'s agent profile took part (as a subquery of pks)."""
    return Participant.objects.filter(agent__user_id=user_id).values("conversation_id").order_by()


def participants_for_lists() -> QuerySet[Participant]:
    """Participants as list rows show them (customer names, agents), for a ``Prefetch``."""
    return Participant.objects.select_related("agent").order_by("joined_at", "id")


def line_event(communication: Communication) -> dict[str, Any]:
    """A transcript line as its live event carries it: what the conversation page shows of it
    (``conversations/_line.html``), with the text as stored (redacted)."""
    author = communication.author
    return {
        "id": communication.pk,
        "twilio_id": communication.twilio_id,
        "kind": display.speaker_kind(author),
        "role": display.speaker_role(author),
        "speaker": display.speaker_name(communication),
        "occurred_at": communication.occurred_at.isoformat(),
        "offset_ms": communication.offset_ms,
        "offset": display.line_offset(communication, communication.conversation),
        "channel": communication.channel,
        "text": communication.text,
        "sentiment": None,  # judged after the line is stored; a later event brings it
    }


def ended_at(*, conversation: Conversation) -> datetime | None:
    """When the conversation's calling ended, or None while it goes on: a closed conversation's
    end (its last update when Twilio sent none), else the end of its calls once every call it
    has ended (a voice call ends before Orchestrator closes the conversation)."""
    if conversation.status == ConversationStatus.CLOSED:
        return conversation.ended_at or conversation.updated_at
    calls = list(conversation.calls.values_list("ended_at", flat=True))
    if calls and all(end is not None for end in calls):
        return max(end for end in calls if end is not None)
    return None


def status_event(conversation: Conversation) -> dict[str, Any]:
    """The conversation's state as its live ``status`` event carries it."""
    end = ended_at(conversation=conversation)
    return {
        "status": conversation.status,
        "ended": end is not None,
        "ended_at": end.isoformat() if end else None,
    }


def agent_on_call(*, conversation: Conversation, user_id: int) -> Any:
    """The agent (accounts) whose login is ``user_id``, if they took part; else None."""
    for participant in conversation.participants.all():
        agent = participant.agent
        if agent is not None and agent.user_id == user_id:
            return agent
    return None


def live_conversations_all(*, max_age_hours: float) -> QuerySet[Conversation]:
    """Conversations going on now, whoever asks (for workers): not closed, started in the
    last ``max_age_hours`` (an abandoned placeholder does not stay on the floor for ever), and
    not a voice conversation whose calls have all ended."""
    since = timezone.now() - timedelta(hours=max_age_hours)
    ended_call = Call.objects.filter(conversation=OuterRef("pk"), ended_at__isnull=False)
    open_call = Call.objects.filter(conversation=OuterRef("pk"), ended_at__isnull=True)
    return (
        Conversation.objects.exclude(status=ConversationStatus.CLOSED)
        .filter(started_at__gte=since)
        .exclude(Q(Exists(ended_call)) & ~Q(Exists(open_call)))
    )


def live_conversations(*, user: Person, max_age_hours: float) -> QuerySet[Conversation]:
    """The conversations going on now that ``user`` may see."""
    return live_conversations_all(max_age_hours=max_age_hours).filter(
        pk__in=Conversation.objects.for_user(user).values("pk")
    )


FLOOR_TEXTS = 5  # the customer's last lines a floor row keeps the text of


class FloorRow(NamedTuple):
    id: int
    team_id: int | None
    team: str
    started_at: datetime | None
    channel: str
    agents: list[str]
    agent_ids: list[int]
    customer: str
    has_human: bool
    has_ai: bool
    lines: int
    last_line_at: datetime | None  # when the last line ended
    customer_lines: list[str]  # twilio ids of the customer's lines, in the order said
    customer_texts: dict[str, str]  # the text of the customer's last few lines, by twilio id


def floor_rows(*, ids: Iterable[int]) -> dict[int, FloorRow]:
    """What a floor tile shows of each conversation (no scoping: the caller scoped ``ids``),
    in four queries."""
    wanted = list(ids)
    convs = list(Conversation.objects.filter(pk__in=wanted).select_related("team"))
    # Their lines sit in their months' partitions: naming the months reads only those.
    months = {month_of(conv.created_at) for conv in convs}
    people: dict[int, list[Participant]] = {}
    for participant in Participant.objects.filter(conversation_id__in=wanted).select_related(
        "agent"
    ):
        people.setdefault(participant.conversation_id, []).append(participant)
    customer_lines: dict[int, list[str]] = {}
    counts: dict[int, tuple[int, datetime | None]] = {}
    lines = (
        Communication.objects.filter(conversation_id__in=wanted, conversation_month__in=months)
        .order_by("conversation_id", "offset_ms", "id")
        .values_list("conversation_id", "twilio_id", "author__type", "occurred_at", "duration_ms")
    )
    for cid, twilio_id, author_type, occurred_at, duration_ms in lines:
        n, last = counts.get(cid, (0, None))
        # A line ends when it was said plus how long it took (a long answer is no silence).
        end = occurred_at + timedelta(milliseconds=duration_ms or 0) if occurred_at else None
        counts[cid] = (n + 1, max(filter(None, [last, end]), default=None))
        if author_type == ParticipantType.CUSTOMER:
            customer_lines.setdefault(cid, []).append(twilio_id)
    # The text of the customer's last few lines only (what an alert listens to).
    recent = [line for ids in customer_lines.values() for line in ids[-FLOOR_TEXTS:]]
    said = dict(
        Communication.objects.filter(
            twilio_id__in=recent, conversation_id__in=wanted, conversation_month__in=months
        ).values_list("twilio_id", "text")
    )
    texts = {
        cid: {line: said.get(line, "")[:500] for line in ids[-FLOOR_TEXTS:]}
        for cid, ids in customer_lines.items()
    }
    rows = {}
    for conv in convs:
        here = people.get(conv.pk, [])
        humans = [p for p in here if p.type in (ParticipantType.HUMAN_AGENT, ParticipantType.AGENT)]
        customers = [p for p in here if p.type == ParticipantType.CUSTOMER]
        n, last = counts.get(conv.pk, (0, None))
        rows[conv.pk] = FloorRow(
            id=conv.pk,
            team_id=conv.team_id,
            team=conv.team.name if conv.team else "",
            started_at=conv.started_at,
            channel=(conv.channels[0] if conv.channels else "").upper(),
            agents=[p.agent.display_name if p.agent else (p.name or "Agent") for p in humans],
            agent_ids=[p.agent_id for p in humans if p.agent_id],
            customer=next((p.name for p in customers if p.name), "Caller"),
            has_human=bool(humans),
            has_ai=any(p.type == ParticipantType.AI_AGENT for p in here),
            lines=n,
            last_line_at=last,
            customer_lines=customer_lines.get(conv.pk, []),
            customer_texts=texts.get(conv.pk, {}),
        )
    return rows


def team_ids_of(*, ids: Iterable[int]) -> dict[int, int | None]:
    """The team of each conversation (None: no team)."""
    return dict(Conversation.objects.filter(pk__in=list(ids)).values_list("pk", "team_id"))


# For re-scoring many stored conversations at once (QA's rubric impact preview).


class ClosedBrief(NamedTuple):
    pk: int
    team_id: int | None
    agent_id: int | None  # the first participant linked to an agent
    agent_team_id: int | None
    participant_types: frozenset[str]


def closed_conversations_brief(*, since: datetime, limit: int) -> list[ClosedBrief]:
    """The closed conversations started since ``since``, newest first, at most ``limit``, with
    their team, first agent and participant types: two queries, whatever the number."""
    rows = list(
        Conversation.objects.filter(status=ConversationStatus.CLOSED, started_at__gte=since)
        .order_by("-started_at", "-id")
        .values_list("pk", "team_id")[:limit]
    )
    agents: dict[int, tuple[int | None, int | None]] = {}
    types: dict[int, set[str]] = {pk: set() for pk, _ in rows}
    participants = (
        Participant.objects.filter(conversation_id__in=list(types))
        .order_by("conversation_id", "joined_at", "id")
        .values_list("conversation_id", "type", "agent_id", "agent__team_id")
    )
    for conversation_id, kind, agent_id, agent_team_id in participants:
        types[conversation_id].add(kind)
        if agent_id is not None and conversation_id not in agents:
            agents[conversation_id] = (agent_id, agent_team_id)
    return [
        ClosedBrief(pk, team_id, *agents.get(pk, (None, None)), frozenset(types[pk]))
        for pk, team_id in rows
    ]


def agent_lines_by_conversation(
    *, conversation_ids: Iterable[int], chunk_size: int = 5000
) -> Iterable[tuple[int, list[tuple[int, str, int | None, str]]]]:
    """``(conversation id, its agents' lines)`` for each conversation that has any, in
    conversation id order, each line ``(pk, author type, offset_ms, text)`` in spoken order
    (the shape ``apps.rubrics.checks`` reads). One server-side cursor over every line: memory
    stays flat however many conversations are read."""
    rows = (
        Communication.objects.filter(
            conversation_id__in=list(conversation_ids), author__type__in=AGENT_TYPES
        )
        .order_by("conversation_id", F("offset_ms").asc(nulls_last=True), "occurred_at", "id")
        .values_list("conversation_id", "pk", "author__type", "offset_ms", "text")
        .iterator(chunk_size=chunk_size)
    )
    current: int | None = None
    lines: list[tuple[int, str, int | None, str]] = []
    for conversation_id, pk, author_type, offset_ms, text in rows:
        if conversation_id != current:
            if current is not None:
                yield current, lines
            current, lines = conversation_id, []
        lines.append((pk, author_type, offset_ms, text))
    if current is not None:
        yield current, lines


# Transcript access log ---------------------------------------------------------------------


def access_log_list(*, user: Person) -> QuerySet[TranscriptAccess]:
    """The transcript access log, newest first: for admins (``access_log``), nobody else.

    Rows carry their own user and conversation names, so a page of them is one query.
    """
    if not can_use(user, "access_log"):
        return TranscriptAccess.objects.none()
    return TranscriptAccess.objects.order_by("-created_at", "-id")


def access_log_older(*, before: datetime) -> QuerySet[TranscriptAccess]:
    """Access-log rows older than ``before`` (what the retention run purges; unscoped)."""
    return TranscriptAccess.objects.filter(created_at__lt=before)


def conversation_ids_of_communications(*, communications: Iterable[Communication]) -> list[int]:
    """The conversations a page of communications belongs to (already loaded: no query)."""
    return sorted({line.conversation_id for line in communications})


def sensitivity_of(*, conversation_ids: Iterable[int]) -> dict[int, bool]:
    """Whether each conversation is marked sensitive (one query)."""
    return dict(
        Conversation.objects.filter(pk__in=list(conversation_ids)).values_list("pk", "sensitive")
    )


# Retention and erasure (apps/privacy) ------------------------------------------------------------


def communications_with_words(*, before: datetime) -> QuerySet[Communication]:
    """Lines spoken before ``before`` that still hold words (not yet anonymised, not blank, not
    only tags): what the transcripts' retention would anonymise."""
    return (
        Communication.objects.filter(occurred_at__lt=before)
        .exclude(text=ANONYMISED_TEXT)
        .exclude(text__regex=NO_WORDS_REGEX)
    )


def conversation_ids_for_addresses(*, addresses: Iterable[str]) -> set[int]:
    """Conversations where one of ``addresses`` (as stored: ``+15551234567``,
    ``whatsapp:+1...``, an email address) took part, wrote a line or was on the call."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return set()
    in_addresses = Q()
    for address in wanted:
        in_addresses |= Q(addresses__contains=[{"address": address}])
    ids = set(Participant.objects.filter(in_addresses).values_list("conversation_id", flat=True))
    ids |= set(
        Communication.objects.filter(author_address__in=wanted).values_list(
            "conversation_id", flat=True
        )
    )
    ids |= set(
        Call.objects.filter(
            Q(from_number__in=wanted) | Q(to_number__in=wanted), conversation__isnull=False
        ).values_list("conversation_id", flat=True)
    )
    return ids


def conversation_ids_for_profile_ids(*, profile_ids: Iterable[str]) -> set[int]:
    """Conversations with a participant of one of these Twilio profile ids."""
    wanted = [p for p in profile_ids if p]
    if not wanted:
        return set()
    return set(
        Participant.objects.filter(profile_id__in=wanted).values_list("conversation_id", flat=True)
    )


def customer_addresses(*, conversation_ids: Iterable[int]) -> set[str]:
    """Every address of the non-agent participants of these conversations."""
    found: set[str] = set()
    rows = Participant.objects.filter(conversation_id__in=list(conversation_ids)).exclude(
        type__in=AGENT_TYPES
    )
    for addresses in rows.values_list("addresses", flat=True):
        for item in addresses or []:
            if isinstance(item, dict) and item.get("address"):
                found.add(str(item["address"]))
    return found


def call_ids_for_numbers(*, numbers: Iterable[str]) -> set[int]:
    """Calls from or to one of ``numbers``, linked to a conversation or not."""
    wanted = [n for n in numbers if n]
    if not wanted:
        return set()
    return set(
        Call.objects.filter(Q(from_number__in=wanted) | Q(to_number__in=wanted)).values_list(
            "pk", flat=True
        )
    )


def conversation_references(*, conversation_ids: Iterable[int]) -> set[str]:
    """The Twilio ids a raw webhook body names these conversations by: conversation ids and
    Call SIDs."""
    refs: set[str] = set()
    for twilio_id, call_sids in Conversation.objects.filter(
        pk__in=list(conversation_ids)
    ).values_list("twilio_id", "call_sids"):
        refs.add(twilio_id)
        refs.update(call_sids or [])
    return refs
