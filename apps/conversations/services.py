"""Writes of conversations, participants, communications and calls.

Twilio's events arrive late, twice and out of order. Every function here is an upsert keyed by a
Twilio id, guarded by the version (Twilio's ``updatedAt``) of the state already applied, so a
replay or an older event never overwrites newer state, and anything that arrives before the
conversation it belongs to creates a placeholder that the real event later fills in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Func, Q, QuerySet, Value
from django.db.models.functions import Extract
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.accounts.selectors import agent_find_by_identity, identity_values_known
from apps.common import partitions
from apps.common.anonymise import ANONYMISED_TEXT, NO_WORDS_REGEX
from apps.common.changes import conversations_changed
from apps.common.errors import PermissionDenied, ValidationFailed
from apps.live.streams import live_publish, live_publish_many

from . import selectors
from .choices import AGENT_TYPES, AccessChannel, ContentType, ConversationStatus, ParticipantType
from .models import Call, Communication, Conversation, Participant, TranscriptAccess

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

_STATUS_RANK: dict[str, int] = {
    ConversationStatus.ACTIVE: 0,
    ConversationStatus.INACTIVE: 0,
    ConversationStatus.CLOSED: 1,
}
LINE_EVENT = "line"  # a transcript line stored or changed (``selectors.line_event``)
STATUS_EVENT = "status"  # the conversation or its call changed state (``selectors.status_event``)
CALL_ENDED_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}


def _is_stale(stored: datetime | None, incoming: datetime | None) -> bool:
    """An event is stale when the state already applied is newer (or the same version)."""
    return stored is not None and incoming is not None and incoming <= stored


def _get_or_create_locked(
    model: Any, *, lookup: dict[str, Any], defaults: dict[str, Any]
) -> tuple[Any, bool]:
    """Row-locked get-or-create that survives two workers creating the same row at once."""
    try:
        with transaction.atomic():
            obj, created = model.objects.get_or_create(**lookup, defaults=defaults)
    except IntegrityError:
        obj, created = model.objects.get(**lookup), False
    if not created:
        obj = model.objects.select_for_update().get(pk=obj.pk)
    return obj, created


def _array_add(queryset: Any, field: str, value: str) -> None:
    queryset.exclude(**{f"{field}__contains": [value]}).update(
        **{field: Func(F(field), Value(value), function="array_append")}
    )


def conversation_ensure(
    *, twilio_id: str, account_id: str = "", at: datetime | None = None, lock: bool = False
) -> Conversation:
    """The conversation with this id, created as a placeholder if it has not arrived yet.

    ``lock`` holds its row until the caller's transaction ends (a new row is held by being
    uncommitted), in the same statement that finds it. ``FOR NO KEY UPDATE``: writers of the
    same conversation wait for each other, but rows that only point at it do not (their foreign
    keys are checked with ``FOR KEY SHARE`` at commit). A rule execution that published its
    live event holds the conversation's stream and then checks its keys; with ``FOR UPDATE``
    here, an ingest waiting for that stream deadlocked with it.
    """
    conversations = (
        Conversation.objects.select_for_update(no_key=True) if lock else Conversation.objects
    )
    conversation = conversations.filter(twilio_id=twilio_id).first()
    if conversation is not None:
        return conversation
    try:
        with transaction.atomic():
            return Conversation.objects.create(
                twilio_id=twilio_id, account_id=account_id, started_at=at, is_placeholder=True
            )
    except IntegrityError:
        return conversations.get(twilio_id=twilio_id)


def conversations_lock(*, twilio_ids: Iterable[str]) -> None:
    """Lock the existing conversations with these ids until the transaction ends, in one
    statement and in ``twilio_id`` order (the order ``communications_apply`` locks in), so a
    batch that then writes them one at a time cannot deadlock with another batch."""
    ids = sorted({twilio_id for twilio_id in twilio_ids if twilio_id})
    if ids:
        list(
            Conversation.objects.select_for_update(no_key=True)
            .filter(twilio_id__in=ids)
            .order_by("twilio_id")
            .values_list("pk", flat=True)
        )


@transaction.atomic
def conversation_apply(
    *,
    twilio_id: str,
    status: str,
    version: datetime | None,
    name: str | None = None,
    account_id: str = "",
    configuration_id: str = "",
    created_at: datetime | None = None,
) -> tuple[Conversation, bool]:
    """Apply a CONVERSATION_CREATED/UPDATED. Returns the conversation and whether it changed."""
    if status not in ConversationStatus.values:
        status = ConversationStatus.ACTIVE
    conversation, created = _get_or_create_locked(
        Conversation,
        lookup={"twilio_id": twilio_id},
        defaults={
            "status": status,
            "name": name or "",
            "account_id": account_id,
            "configuration_id": configuration_id,
            "started_at": created_at or version,
            "ended_at": version if status == ConversationStatus.CLOSED else None,
            "source_updated_at": version,
        },
    )
    if created:
        conversations_changed([conversation.pk])
        return conversation, True
    old_status = conversation.status
    same_version = version is not None and version == conversation.source_updated_at
    if same_version and _STATUS_RANK[status] > _STATUS_RANK[conversation.status]:
        pass  # two updates in the same second: closing wins
    elif _is_stale(conversation.source_updated_at, version):
        return conversation, False
    if conversation.status == ConversationStatus.CLOSED and status != ConversationStatus.CLOSED:
        return conversation, False  # CLOSED is final; Twilio opens a new conversation instead
    old_start = conversation.started_at
    conversation.status = status
    if name is not None:
        conversation.name = name
    conversation.account_id = account_id or conversation.account_id
    conversation.configuration_id = configuration_id or conversation.configuration_id
    if created_at and (
        conversation.is_placeholder
        or conversation.started_at is None
        or created_at < conversation.started_at
    ):
        conversation.started_at = created_at
    if status == ConversationStatus.CLOSED and conversation.ended_at is None:
        conversation.ended_at = version
    conversation.source_updated_at = version or conversation.source_updated_at
    conversation.is_placeholder = False
    conversation.save()
    if conversation.started_at != old_start:
        _recompute_offsets(conversation)
    conversations_changed([conversation.pk])
    if conversation.status != old_status:
        live_publish(conversation.pk, STATUS_EVENT, selectors.status_event(conversation))
    return conversation, True


def _recompute_offsets(conversation: Conversation) -> None:
    if conversation.started_at is None:
        return
    Communication.objects.filter(conversation=conversation).update(
        offset_ms=Extract(F("occurred_at") - Value(conversation.started_at), "epoch") * 1000
    )


def _link_agent(participant: Participant, conversation: Conversation) -> None:
    if participant.type not in AGENT_TYPES:
        return
    addresses = [a.get("address", "") for a in participant.addresses if isinstance(a, dict)]
    agent = agent_find_by_identity(
        participant_id=participant.twilio_id, addresses=addresses, name=participant.name
    )
    if agent is None:
        return
    participant.agent = agent
    if agent.team_id:
        Conversation.objects.filter(pk=conversation.pk, team__isnull=True).update(
            team_id=agent.team_id
        )


@transaction.atomic
def participant_apply(
    *,
    twilio_id: str,
    conversation_twilio_id: str,
    type: str,
    version: datetime | None,
    name: str = "",
    addresses: Iterable[dict[str, Any]] = (),
    profile_id: str = "",
    joined_at: datetime | None = None,
    removed_at: datetime | None = None,
    account_id: str = "",
) -> tuple[Participant, bool]:
    """Apply PARTICIPANT_ADDED/UPDATED/REMOVED."""
    conversation = conversation_ensure(
        twilio_id=conversation_twilio_id, account_id=account_id, at=joined_at
    )
    if type not in ParticipantType.values:
        type = ParticipantType.UNKNOWN
    participant, created = _get_or_create_locked(
        Participant,
        lookup={"twilio_id": twilio_id},
        defaults={"conversation": conversation, "type": type, "source_updated_at": None},
    )
    if not created and _is_stale(participant.source_updated_at, version):
        return participant, False
    participant.conversation = conversation
    participant.type = type
    participant.name = name or participant.name
    participant.addresses = list(addresses) or participant.addresses
    participant.profile_id = profile_id or participant.profile_id
    participant.joined_at = participant.joined_at or joined_at
    if removed_at is not None:
        participant.left_at = removed_at
    participant.source_updated_at = version
    _link_agent(participant, conversation)
    participant.save()
    conversations_changed([conversation.pk])
    return participant, True


def _author_ensure(
    *, conversation: Conversation, participant_id: str, address: str
) -> Participant | None:
    if not participant_id:
        return None
    participant = Participant.objects.filter(twilio_id=participant_id).first()
    if participant is not None:
        return participant
    try:
        with transaction.atomic():
            return Participant.objects.create(
                twilio_id=participant_id,
                conversation=conversation,
                type=ParticipantType.UNKNOWN,
                name=address,
                addresses=[{"address": address}] if address else [],
            )
    except IntegrityError:
        return Participant.objects.get(twilio_id=participant_id)


@dataclass(frozen=True)
class CommunicationInput:
    twilio_id: str
    conversation_twilio_id: str
    occurred_at: datetime
    text: str = ""
    author_participant_id: str = ""
    author_address: str = ""
    channel: str = ""
    content_type: str = ContentType.TEXT
    confidence: float | None = None
    duration_ms: int | None = None
    channel_id: str = ""
    resource_id: str = ""
    version: datetime | None = None
    account_id: str = ""
    metadata: dict[str, Any] | None = None


def _communication_fields(
    data: CommunicationInput, *, conversation: Conversation, author: Participant | None
) -> tuple[dict[str, Any], dict[str, int]]:
    """The stored fields of a communication (its text redacted) and what redaction masked."""
    from apps.common.redaction import redact_configured

    redaction = redact_configured(data.text)
    metadata = dict(data.metadata or {})
    if redaction.counts:
        metadata["redacted"] = redaction.counts
    started = conversation.started_at or data.occurred_at
    fields = {
        "conversation": conversation,
        "author": author,
        "author_address": data.author_address,
        "channel": data.channel,
        "content_type": data.content_type
        if data.content_type in ContentType.values
        else ContentType.TEXT,
        "text": redaction.text,
        "occurred_at": data.occurred_at,
        # The callers set the start first (a placeholder's is its first line).
        "offset_ms": int((data.occurred_at - started).total_seconds() * 1000),
        "duration_ms": data.duration_ms,
        "confidence": data.confidence,
        "channel_id": data.channel_id,
        "resource_id": data.resource_id,
        "metadata": metadata,
        "source_updated_at": data.version,
    }
    return fields, redaction.counts


@transaction.atomic
def communication_apply(data: CommunicationInput) -> tuple[Communication, bool]:
    """Apply COMMUNICATION_CREATED/UPDATED. The text is redacted before it is stored.

    One at a time per conversation: the conversation row stays locked until the caller's
    transaction ends, so whoever counts the conversation's communications in it (the
    COMMUNICATION trigger points, ``intelligence.communication_added``) sees every earlier one.
    Two workers counting at once would compute the same point and lose the other's.
    """
    conversation = conversation_ensure(
        twilio_id=data.conversation_twilio_id,
        account_id=data.account_id,
        at=data.occurred_at,
        lock=True,
    )
    if conversation.started_at is None or (
        conversation.is_placeholder and data.occurred_at < conversation.started_at
    ):
        Conversation.objects.filter(pk=conversation.pk).update(started_at=data.occurred_at)
        conversation.started_at = data.occurred_at
        _recompute_offsets(conversation)
    author = _author_ensure(
        conversation=conversation,
        participant_id=data.author_participant_id,
        address=data.author_address,
    )
    fields, masked = _communication_fields(data, conversation=conversation, author=author)
    if SENSITIVE_KINDS & masked.keys():
        _mark_sensitive_by_redaction(conversation, masked)
    # No savepoint on this hot path: if another worker inserts the same id between the SELECT
    # and the INSERT, the IntegrityError fails this event, which is retried and then finds it.
    # The key table says whether the line exists and in which month: a new line (nearly
    # every COMMUNICATION_CREATED) costs one probe of it, an update reads one partition.
    month = partitions.key_months(partitions.COMMUNICATIONS, [data.twilio_id]).get(data.twilio_id)
    communication = (
        Communication.objects.select_for_update()
        .filter(twilio_id=data.twilio_id, conversation_month=month)
        .first()
        if month is not None
        else None
    )
    if communication is None:
        communication = Communication.objects.create(twilio_id=data.twilio_id, **fields)
    else:
        if _is_stale(communication.source_updated_at, data.version):
            return communication, False
        for key, value in fields.items():
            setattr(communication, key, value)
        communication.save()
    if data.channel and data.channel not in conversation.channels:
        _array_add(Conversation.objects.filter(pk=conversation.pk), "channels", data.channel)
    if data.channel_id.startswith("CA") and data.channel_id not in conversation.call_sids:
        call_link(call_sid=data.channel_id, conversation=conversation)
    conversations_changed([conversation.pk])
    # Numbered in this transaction, sent when it commits: before any operator runs on the line.
    live_publish(conversation.pk, LINE_EVENT, selectors.line_event(communication))
    return communication, True


@dataclass(frozen=True)
class Applied:
    """What ``communications_apply`` did with one input."""

    communication_id: int
    conversation_id: int
    changed: bool
    # New communications of the same conversation stored after this one in the same batch: the
    # line's trigger point is the conversation's count at the end of the batch minus this.
    later: int = 0


def communications_apply(items: Sequence[CommunicationInput]) -> list[Applied]:
    """Apply a batch's COMMUNICATION_CREATED/UPDATED together; one ``Applied`` per item, in order.

    The same rules as ``communication_apply``, for a set: placeholders for the conversations not
    seen yet, authors created when unknown, the text redacted, version guards, the line's live
    event. A fixed number of statements per batch, not per line. Two versions of one
    communication in the batch: the later one wins unless its version is older or the same (as
    if they had been applied in order); the other is reported unchanged.

    Call inside the batch's transaction. The conversations are locked (``FOR NO KEY UPDATE``,
    in ``twilio_id`` order, so two batches cannot deadlock on them) until it ends, as
    ``communication_apply`` locks its one: whoever counts their communications (the trigger
    points) sees every earlier one.
    """
    if not items:
        return []
    winners: dict[str, int] = {}
    for index, item in enumerate(items):
        best = winners.get(item.twilio_id)
        if best is None or not _is_stale(items[best].version, item.version):
            winners[item.twilio_id] = index
    chosen = sorted(winners.values())
    conversations = _conversations_ensure_locked([items[i] for i in chosen])
    authors = _authors_ensure([items[i] for i in chosen], conversations)
    months = partitions.key_months(partitions.COMMUNICATIONS, winners)  # those that exist
    existing = (
        {
            c.twilio_id: c
            for c in Communication.objects.select_for_update()
            .filter(twilio_id__in=sorted(months), conversation_month__in=set(months.values()))
            .order_by("twilio_id")
        }
        if months
        else {}
    )
    stored: dict[int, tuple[Communication, bool]] = {}
    new: list[Communication] = []
    updated: list[Communication] = []
    masked: dict[int, dict[str, int]] = {}
    for index in chosen:
        item = items[index]
        conversation = conversations[item.conversation_twilio_id]
        fields, counts = _communication_fields(
            item, conversation=conversation, author=authors.get(item.author_participant_id)
        )
        if SENSITIVE_KINDS & counts.keys():
            masked.setdefault(conversation.pk, {}).update(counts)
        communication = existing.get(item.twilio_id)
        if communication is None:
            communication = Communication(twilio_id=item.twilio_id, **fields)
            new.append(communication)
        elif _is_stale(communication.source_updated_at, item.version):
            stored[index] = (communication, False)
            continue
        else:
            for key, value in fields.items():
                setattr(communication, key, value)
            communication.updated_at = timezone.now()  # bulk_update skips auto_now
            updated.append(communication)
        stored[index] = (communication, True)
    Communication.objects.bulk_create(new)
    if updated:
        Communication.objects.bulk_update(updated, [*_FIELDS, "updated_at"])
    by_pk = {c.pk: c for c in conversations.values()}
    for conversation_pk, counts in masked.items():
        _mark_sensitive_by_redaction(by_pk[conversation_pk], counts)
    changed = [(items[i], stored[i][0]) for i in chosen if stored[i][1]]
    _channels_and_calls_add(conversations.values(), [(item, c) for item, c in changed])
    conversations_changed(c.conversation_id for _, c in changed)
    live_publish_many(
        [(c.conversation_id, LINE_EVENT, selectors.line_event(c)) for _, c in changed]
    )
    later: dict[int, int] = {}
    is_new = {id(c) for c in new}
    results: dict[int, Applied] = {}
    for index in reversed(chosen):
        communication, applied = stored[index]
        after = later.get(communication.conversation_id, 0)
        results[index] = Applied(communication.pk, communication.conversation_id, applied, after)
        if id(communication) in is_new:
            later[communication.conversation_id] = later.get(communication.conversation_id, 0) + 1
    return [
        results.get(index) or replace(results[winners[item.twilio_id]], changed=False, later=0)
        for index, item in enumerate(items)
    ]


def _channels_and_calls_add(
    conversations: Iterable[Conversation], changed: list[tuple[CommunicationInput, Communication]]
) -> None:
    """What ``communication_apply`` does line by line with ``_array_add`` and ``call_link``,
    for a batch: the channels and calls new to each (locked) conversation in one UPDATE, the
    calls in one INSERT and one UPDATE."""
    channels: dict[int, set[str]] = {}
    calls: dict[int, set[str]] = {}
    for item, communication in changed:
        channels.setdefault(communication.conversation_id, set()).add(item.channel)
        if item.channel_id.startswith("CA"):
            calls.setdefault(communication.conversation_id, set()).add(item.channel_id)
    rows: list[dict[str, Any]] = []
    for conversation in conversations:
        known_channels, known_calls = set(conversation.channels), set(conversation.call_sids)
        new_channels = sorted(channels.get(conversation.pk, set()) - known_channels - {""})
        new_calls = sorted(calls.get(conversation.pk, set()) - known_calls)
        if new_channels or new_calls:
            rows.append({"id": conversation.pk, "channels": new_channels, "calls": new_calls})
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE conversations_conversation c
               SET channels = c.channels || v.channels, call_sids = c.call_sids || v.calls
              FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, channels text[], calls text[])
             WHERE c.id = v.id
            """,
            [json.dumps(rows)],
        )
    links: list[tuple[str, int]] = [(sid, row["id"]) for row in rows for sid in row["calls"]]
    if links:
        Call.objects.bulk_create(
            [Call(call_sid=sid, conversation_id=pk) for sid, pk in links], ignore_conflicts=True
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE conversations_call k SET conversation_id = v.conversation
                  FROM jsonb_to_recordset(%s::jsonb) AS v(sid text, conversation bigint)
                 WHERE k.call_sid = v.sid AND k.conversation_id IS NULL
                """,
                [json.dumps([{"sid": sid, "conversation": pk} for sid, pk in links])],
            )


_FIELDS = (
    "conversation",
    "author",
    "author_address",
    "channel",
    "content_type",
    "text",
    "occurred_at",
    "offset_ms",
    "duration_ms",
    "confidence",
    "channel_id",
    "resource_id",
    "metadata",
    "source_updated_at",
)


def _placeholders_create(starts: dict[str, tuple[str, datetime | None]]) -> None:
    """Placeholder conversations for these Twilio ids (account, start), in one INSERT; one that
    another worker made first is left as it is (the caller reads them back)."""
    Conversation.objects.bulk_create(
        [
            Conversation(
                twilio_id=twilio_id,
                account_id=account_id,
                started_at=started_at,
                is_placeholder=True,
            )
            for twilio_id, (account_id, started_at) in starts.items()
        ],
        ignore_conflicts=True,
    )


def _conversations_ensure_locked(items: Sequence[CommunicationInput]) -> dict[str, Conversation]:
    """The conversations of these lines by Twilio id, placeholders made for the missing ones
    (started at their first line), every one locked until the transaction ends, with its start
    moved back as ``communication_apply`` does for a line said before it."""
    first: dict[str, CommunicationInput] = {}
    for item in items:
        seen = first.get(item.conversation_twilio_id)
        if seen is None or item.occurred_at < seen.occurred_at:
            first[item.conversation_twilio_id] = item
    ids = sorted(first)
    locked = Conversation.objects.select_for_update(no_key=True).order_by("twilio_id")
    found = {c.twilio_id: c for c in locked.filter(twilio_id__in=ids)}
    missing = [twilio_id for twilio_id in ids if twilio_id not in found]
    if missing:
        _placeholders_create(
            {
                twilio_id: (first[twilio_id].account_id, first[twilio_id].occurred_at)
                for twilio_id in missing
            }
        )
        found |= {c.twilio_id: c for c in locked.filter(twilio_id__in=missing)}
    for twilio_id, conversation in found.items():
        at = first[twilio_id].occurred_at
        if conversation.started_at is None or (
            conversation.is_placeholder and at < conversation.started_at
        ):
            Conversation.objects.filter(pk=conversation.pk).update(started_at=at)
            conversation.started_at = at
            _recompute_offsets(conversation)
    return found


def _authors_ensure(
    items: Sequence[CommunicationInput], conversations: dict[str, Conversation]
) -> dict[str, Participant]:
    """The authors of these lines by Twilio id, made as UNKNOWN participants when not known yet
    (``_author_ensure`` for a set)."""
    first: dict[str, CommunicationInput] = {}
    for item in items:
        if item.author_participant_id:
            first.setdefault(item.author_participant_id, item)
    if not first:
        return {}
    found = {p.twilio_id: p for p in Participant.objects.filter(twilio_id__in=sorted(first))}
    missing = sorted(set(first) - found.keys())
    if missing:
        Participant.objects.bulk_create(
            [
                Participant(
                    twilio_id=twilio_id,
                    conversation=conversations[first[twilio_id].conversation_twilio_id],
                    type=ParticipantType.UNKNOWN,
                    name=first[twilio_id].author_address,
                    addresses=[{"address": first[twilio_id].author_address}]
                    if first[twilio_id].author_address
                    else [],
                )
                for twilio_id in missing
            ],
            ignore_conflicts=True,
        )
        found |= {p.twilio_id: p for p in Participant.objects.filter(twilio_id__in=missing)}
    return found


# Conversation and participant events of a batch, as sets -------------------------------------


@dataclass(frozen=True)
class ConversationInput:
    """A CONVERSATION_CREATED/UPDATED as ``conversation_apply`` takes it."""

    twilio_id: str
    status: str
    version: datetime | None
    name: str | None = None
    account_id: str = ""
    configuration_id: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class ConversationApplied:
    """What ``conversations_apply`` did with one input: the conversation's state after it."""

    conversation_id: int
    status: str
    changed: bool


def _conversation_created(item: ConversationInput, status: str) -> Conversation:
    # The row ``conversation_apply`` creates (its get_or_create defaults).
    return Conversation(
        twilio_id=item.twilio_id,
        status=status,
        name=item.name or "",
        account_id=item.account_id,
        configuration_id=item.configuration_id,
        started_at=item.created_at or item.version,
        ended_at=item.version if status == ConversationStatus.CLOSED else None,
        source_updated_at=item.version,
    )


def _conversation_step(conversation: Conversation, item: ConversationInput, status: str) -> bool:
    """``conversation_apply`` on a conversation that exists, in memory; True if it changed."""
    same_version = item.version is not None and item.version == conversation.source_updated_at
    if same_version and _STATUS_RANK[status] > _STATUS_RANK[conversation.status]:
        pass  # two updates in the same second: closing wins
    elif _is_stale(conversation.source_updated_at, item.version):
        return False
    if conversation.status == ConversationStatus.CLOSED and status != ConversationStatus.CLOSED:
        return False
    conversation.status = status
    if item.name is not None:
        conversation.name = item.name
    conversation.account_id = item.account_id or conversation.account_id
    conversation.configuration_id = item.configuration_id or conversation.configuration_id
    if item.created_at and (
        conversation.is_placeholder
        or conversation.started_at is None
        or item.created_at < conversation.started_at
    ):
        conversation.started_at = item.created_at
    if status == ConversationStatus.CLOSED and conversation.ended_at is None:
        conversation.ended_at = item.version
    conversation.source_updated_at = item.version or conversation.source_updated_at
    conversation.is_placeholder = False
    conversation.updated_at = timezone.now()  # save() would; bulk_update skips auto_now
    return True


_CONVERSATION_FIELDS = {
    "status": "text",
    "name": "text",
    "account_id": "text",
    "configuration_id": "text",
    "started_at": "timestamptz",
    "ended_at": "timestamptz",
    "source_updated_at": "timestamptz",
    "is_placeholder": "boolean",
    "updated_at": "timestamptz",
}


def _json_value(value: Any) -> Any:
    # Exact to the microsecond (DjangoJSONEncoder would cut datetimes to milliseconds).
    return value.isoformat() if isinstance(value, datetime) else value


def _rows_update(model: Any, objects: Sequence[Any], fields: dict[str, str]) -> None:
    """``bulk_update`` of these fields (name: SQL type) in one ``UPDATE ... FROM
    jsonb_to_recordset``: bulk_update's CASE per row and field cost more to build in Python than
    the statement took to run (a profile of a 200-conversation batch)."""
    if not objects:
        return
    meta = model._meta
    columns = {
        meta.get_field(name).column: (meta.get_field(name).attname, t) for name, t in fields.items()
    }
    rows = [
        {
            "id": obj.pk,
            **{
                column: _json_value(getattr(obj, attname))
                for column, (attname, _) in columns.items()
            },
        }
        for obj in objects
    ]
    sets = ", ".join(f'"{column}" = v."{column}"' for column in columns)
    types = ", ".join(f'"{column}" {sql_type}' for column, (_, sql_type) in columns.items())
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {meta.db_table} t SET {sets}
              FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, {types})
             WHERE t.id = v.id
            """,
            [json.dumps(rows)],
        )


def conversations_apply(items: Sequence[ConversationInput]) -> list[ConversationApplied]:
    """Apply a batch's CONVERSATION_CREATED/UPDATED together; one result per item, in order.

    The same rules as ``conversation_apply`` one after the other (version guards, closing wins
    a tie, CLOSED is final, a placeholder filled in, the start moved back), folded in memory:
    the new conversations in one INSERT (as their first event creates them), the rest in one
    UPDATE, the lines of those whose start moved re-offset in one statement, the status events
    numbered in one statement. Call inside the batch's transaction, with no line of the same
    conversations pending (the caller stores those first): the rows stay locked until it ends.
    """
    if not items:
        return []
    statuses = [
        item.status if item.status in ConversationStatus.values else ConversationStatus.ACTIVE
        for item in items
    ]
    ids = sorted({item.twilio_id for item in items})
    locked = Conversation.objects.select_for_update(no_key=True).order_by("twilio_id")
    found = {c.twilio_id: c for c in locked.filter(twilio_id__in=ids)}
    starts = {twilio_id: c.started_at for twilio_id, c in found.items()}
    creator: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.twilio_id not in found and item.twilio_id not in creator:
            creator[item.twilio_id] = index
    if creator:
        made = [_conversation_created(items[i], statuses[i]) for i in creator.values()]
        Conversation.objects.bulk_create(made)  # a row made meanwhile fails the batch: replayed
        found |= {c.twilio_id: c for c in made}
    changed: dict[int, Conversation] = {}
    published: list[tuple[int, str, dict[str, Any]]] = []
    results: list[ConversationApplied] = []
    for index, item in enumerate(items):
        conversation = found[item.twilio_id]
        if creator.get(item.twilio_id) == index:
            done = True
        else:
            old_status = conversation.status
            done = _conversation_step(conversation, item, statuses[index])
            if done:
                changed[conversation.pk] = conversation
                if conversation.status != old_status:
                    published.append(
                        (conversation.pk, STATUS_EVENT, selectors.status_event(conversation))
                    )
        results.append(ConversationApplied(conversation.pk, conversation.status, done))
    if changed:
        _rows_update(Conversation, list(changed.values()), _CONVERSATION_FIELDS)
    moved = [
        {"id": c.pk, "started": c.started_at.isoformat()}
        for c in changed.values()
        if c.twilio_id in starts and c.started_at != starts[c.twilio_id] and c.started_at
    ]
    if moved:
        with connection.cursor() as cursor:
            # ``_recompute_offsets`` for each: the same expression.
            cursor.execute(
                f"""
                UPDATE {Communication._meta.db_table} m
                   SET offset_ms = EXTRACT(EPOCH FROM (m.occurred_at - v.started)) * 1000
                  FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, started timestamptz)
                 WHERE m.conversation_id = v.id
                """,
                [json.dumps(moved)],
            )
    conversations_changed(result.conversation_id for result in results if result.changed)
    live_publish_many(published)
    return results


@dataclass(frozen=True)
class ParticipantInput:
    """A PARTICIPANT_ADDED/UPDATED/REMOVED as ``participant_apply`` takes it."""

    twilio_id: str
    conversation_twilio_id: str
    type: str
    version: datetime | None
    name: str = ""
    addresses: tuple[dict[str, Any], ...] = ()
    profile_id: str = ""
    joined_at: datetime | None = None
    removed_at: datetime | None = None
    account_id: str = ""


_PARTICIPANT_FIELDS = {
    "conversation": "bigint",
    "type": "text",
    "name": "text",
    "addresses": "jsonb",
    "profile_id": "text",
    "joined_at": "timestamptz",
    "left_at": "timestamptz",
    "source_updated_at": "timestamptz",
    "agent": "bigint",
    "updated_at": "timestamptz",
}


def participants_apply(items: Sequence[ParticipantInput]) -> list[bool]:
    """Apply a batch's PARTICIPANT_ADDED/UPDATED/REMOVED together; whether each changed, in
    order.

    The same rules as ``participant_apply`` one after the other, folded in memory: placeholders
    for the conversations not seen yet (started when their first participant joined), version
    guards, agents linked (looked up only for a participant one of whose names some agent
    has), the conversations' teams set from the first linked agent; the new participants in one
    INSERT, the rest in one UPDATE. Call inside the batch's transaction, with no line of the same
    conversations pending."""
    if not items:
        return []
    first: dict[str, ParticipantInput] = {}
    for item in items:
        first.setdefault(item.conversation_twilio_id, item)
    conversations = {
        c.twilio_id: c for c in Conversation.objects.filter(twilio_id__in=sorted(first))
    }
    missing = [twilio_id for twilio_id in first if twilio_id not in conversations]
    if missing:
        _placeholders_create(
            {
                twilio_id: (first[twilio_id].account_id, first[twilio_id].joined_at)
                for twilio_id in missing
            }
        )
        conversations |= {
            c.twilio_id: c for c in Conversation.objects.filter(twilio_id__in=missing)
        }
    participants = {
        p.twilio_id: p
        for p in Participant.objects.select_for_update()
        .filter(twilio_id__in=sorted({item.twilio_id for item in items}))
        .order_by("twilio_id")
    }
    new: dict[str, Participant] = {}
    changed: dict[str, Participant] = {}
    steps: list[tuple[Participant, Conversation, list[str] | None, str]] = []
    results: list[bool] = []
    now = timezone.now()
    for item in items:
        conversation = conversations[item.conversation_twilio_id]
        kind = item.type if item.type in ParticipantType.values else ParticipantType.UNKNOWN
        participant = participants.get(item.twilio_id)
        if participant is None:
            participant = Participant(
                twilio_id=item.twilio_id, conversation=conversation, type=kind
            )
            participants[item.twilio_id] = new[item.twilio_id] = participant
        elif _is_stale(participant.source_updated_at, item.version):
            results.append(False)
            continue
        participant.conversation = conversation
        participant.type = kind
        participant.name = item.name or participant.name
        participant.addresses = list(item.addresses) or participant.addresses
        participant.profile_id = item.profile_id or participant.profile_id
        participant.joined_at = participant.joined_at or item.joined_at
        if item.removed_at is not None:
            participant.left_at = item.removed_at
        participant.source_updated_at = item.version
        participant.updated_at = now
        if item.twilio_id not in new:
            changed[item.twilio_id] = participant
        if kind in AGENT_TYPES:  # what ``_link_agent`` looks up, as of this step
            addresses = [a.get("address", "") for a in participant.addresses if isinstance(a, dict)]
            steps.append((participant, conversation, addresses, participant.name))
        else:
            steps.append((participant, conversation, None, ""))
        results.append(True)
    _agents_link(steps)
    Participant.objects.bulk_create(list(new.values()))  # made meanwhile: the batch is replayed
    _rows_update(Participant, list(changed.values()), _PARTICIPANT_FIELDS)
    conversations_changed(conversation.pk for _, conversation, _, _ in steps)
    return results


def _agents_link(steps: list[tuple[Participant, Conversation, list[str] | None, str]]) -> None:
    """``_link_agent`` after each step, in order: a participant keeps the last agent its names
    found; a conversation without a team takes the first linked agent's. One query for which
    names any agent has; ``agent_find_by_identity`` only for the steps with such a name."""
    agent_steps = [
        (participant, conversation, addresses, name)
        for participant, conversation, addresses, name in steps
        if addresses is not None  # an agent at that step
    ]
    wanted = {
        value
        for participant, _, addresses, name in agent_steps
        for value in (participant.twilio_id, *addresses, name)
        if value
    }
    if not wanted:
        return
    known = identity_values_known(values=wanted)
    teams: dict[int, int] = {}
    for participant, conversation, addresses, name in agent_steps:
        if not known.intersection((participant.twilio_id, *addresses, name)):
            continue
        agent = agent_find_by_identity(
            participant_id=participant.twilio_id, addresses=addresses, name=name
        )
        if agent is None:
            continue
        participant.agent = agent
        if agent.team_id:
            teams.setdefault(conversation.pk, agent.team_id)
    if teams:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {Conversation._meta.db_table} c SET team_id = v.team
                  FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, team bigint)
                 WHERE c.id = v.id AND c.team_id IS NULL
                """,
                [json.dumps([{"id": pk, "team": team} for pk, team in teams.items()])],
            )


# What redaction masked that makes a whole transcript sensitive (apps.common.redaction kinds).
SENSITIVE_KINDS = frozenset({"CARD", "SSN"})
_KIND_NAMES = {"CARD": "a card number", "SSN": "a Social Security number"}


def _mark_sensitive_by_redaction(conversation: Conversation, counts: dict[str, int]) -> None:
    kinds = " and ".join(_KIND_NAMES[kind] for kind in sorted(SENSITIVE_KINDS & counts.keys()))
    # Conditional: the first line that masks one marks it; a hand-made mark is never replaced.
    Conversation.objects.filter(pk=conversation.pk, sensitive=False).update(
        sensitive=True,
        sensitive_reason=f"Redaction masked {kinds}.",
        sensitive_marked_by=None,
        sensitive_marked_at=timezone.now(),
    )


def call_link(*, call_sid: str, conversation: Conversation) -> None:
    """Record that ``call_sid`` belongs to ``conversation`` (both directions)."""
    _array_add(Conversation.objects.filter(pk=conversation.pk), "call_sids", call_sid)
    call, _ = Call.objects.get_or_create(call_sid=call_sid, defaults={"conversation": conversation})
    if call.conversation_id is None:
        Call.objects.filter(pk=call.pk, conversation__isnull=True).update(conversation=conversation)


@transaction.atomic
def call_status_apply(
    *,
    call_sid: str,
    status: str,
    at: datetime,
    sequence: int | None = None,
    from_number: str = "",
    to_number: str = "",
    direction: str = "",
    duration_seconds: int | None = None,
) -> tuple[Call, bool]:
    """Apply a voice status callback; terminal statuses end the call; older ones are ignored."""
    call, _ = _get_or_create_locked(Call, lookup={"call_sid": call_sid}, defaults={})
    if call.ended_at is not None and status not in CALL_ENDED_STATUSES:
        return call, False  # a late "ringing" after "completed"
    if sequence is not None and call.last_sequence is not None and sequence <= call.last_sequence:
        return call, False
    call.status = status
    call.last_sequence = sequence if sequence is not None else call.last_sequence
    call.from_number = from_number or call.from_number
    call.to_number = to_number or call.to_number
    call.direction = direction or call.direction
    if status in {"in-progress", "ringing", "initiated"} and call.started_at is None:
        call.started_at = at
    if status in CALL_ENDED_STATUSES:
        call.ended_at = call.ended_at or at
        call.duration_seconds = (
            duration_seconds if duration_seconds is not None else call.duration_seconds
        )
    if call.conversation_id is None:
        call.conversation = selectors.conversation_for_call(call_sid=call_sid)
    ended = status in CALL_ENDED_STATUSES and call.ended_at is not None
    call.save()
    conversations_changed([call.conversation_id])
    if ended and call.conversation is not None:
        # The agent's page turns into wrap-up when the call ends, before Orchestrator closes.
        live_publish(call.conversation_id, STATUS_EVENT, selectors.status_event(call.conversation))
    return call, True


# Transcript access log ---------------------------------------------------------------------

REASON_MAX_LENGTH = 500
SENSITIVE_REASON_MAX_LENGTH = 300

_RECORD_SQL = """
INSERT INTO conversations_transcriptaccess
    (user_id, username, conversation_id, conversation_twilio_id, channel, reason, sensitive,
     path, ip, created_at)
SELECT %(user)s, %(username)s, c.id, c.twilio_id, %(channel)s, %(reason)s, c.sensitive,
       %(path)s, %(ip)s, %(now)s
FROM conversations_conversation c
WHERE c.id = ANY(%(ids)s)
  AND NOT (%(dedupe)s AND EXISTS (
      SELECT 1 FROM conversations_transcriptaccess a
      WHERE a.conversation_id = c.id AND a.user_id = %(user)s AND a.channel = %(channel)s
        AND a.reason = %(reason)s AND a.created_at > %(since)s
  ))
"""


def access_reason_clean(reason: str) -> str:
    """A reason as stored: one line of printable text (PostgreSQL refuses NUL bytes, and a
    control character has no place in a log someone reads), at most REASON_MAX_LENGTH."""
    printable = "".join(ch if ch.isprintable() else " " for ch in reason)
    return " ".join(printable.split())[:REASON_MAX_LENGTH]


def transcript_access_record(
    *,
    user: Person,
    conversation_ids: Sequence[int],
    channel: AccessChannel,
    reason: str = "",
    path: str = "",
    ip: str | None = None,
    dedupe: bool = True,
) -> int:
    """Record that ``user`` read the transcript text of these conversations; return the rows
    written. One INSERT whatever the number of conversations (an API page of communications
    spans several); nothing else is read or locked.

    With ``dedupe`` (every channel but exports), a read is not written again while the same
    user read the same conversation through the same channel with the same reason within
    ``ACCESS_LOG_DEDUPE_SECONDS``: a page reloading its transcript or a client polling the API
    is one row per window. Two reads racing inside the window may both be written: the log
    errs on the side of more rows.
    """
    ids = sorted({int(pk) for pk in conversation_ids})
    if not ids or user.pk is None:
        return 0
    now = timezone.now()
    window = settings.ACCESS_LOG_DEDUPE_SECONDS
    params: dict[str, Any] = {
        "user": user.pk,
        "username": user.get_username()[:150],
        "channel": str(channel),
        "reason": access_reason_clean(reason),
        "path": path.replace("\x00", "")[:500],
        "ip": ip or None,
        "now": now,
        "ids": ids,
        "dedupe": dedupe and window > 0,
        "since": now - timedelta(seconds=window),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
        return int(cursor.rowcount)


@transaction.atomic
def conversation_mark_sensitive(
    *, user: Person, conversation: Conversation, sensitive: bool, reason: str
) -> Conversation:
    """Mark a conversation sensitive (its transcript is then read only with a reason) or clear
    the mark, by hand: QA analysts and admins (``conversation_sensitive``), with a reason."""
    if not can_use(user, "conversation_sensitive"):
        raise PermissionDenied("Only QA analysts and admins mark conversations sensitive.")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say why."]})
    if len(reason) > SENSITIVE_REASON_MAX_LENGTH:
        raise ValidationFailed({"reason": [f"At most {SENSITIVE_REASON_MAX_LENGTH} characters."]})
    Conversation.objects.filter(pk=conversation.pk).update(
        sensitive=sensitive,
        sensitive_reason=reason,
        sensitive_marked_by=user if user.is_authenticated else None,
        sensitive_marked_at=timezone.now(),
    )
    conversation.refresh_from_db(
        fields=["sensitive", "sensitive_reason", "sensitive_marked_by", "sensitive_marked_at"]
    )
    return conversation


def _access_log_delete(rows: QuerySet[TranscriptAccess]) -> int:
    """The one way rows leave the log: the table's trigger refuses a DELETE unless the
    transaction set ``ccportal.retention = 'on'``, which this does for its own statement only
    (off again at once, should it run inside a longer transaction; a failed DELETE's rollback
    undoes the SET LOCAL with it). Call inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL ccportal.retention = 'on'")
        deleted, _ = rows.delete()
        cursor.execute("SET LOCAL ccportal.retention = 'off'")
    return deleted


@transaction.atomic
def access_log_purge(*, before: datetime) -> int:
    """Delete every access-log row older than ``before`` at once; return how many."""
    return _access_log_delete(TranscriptAccess.objects.filter(created_at__lt=before))


@transaction.atomic
def access_log_purge_batch(*, before: datetime, limit: int) -> int:
    """The nightly retention run's step: delete up to ``limit`` of the oldest rows older than
    ``before`` (one short transaction); return how many went, 0 when none is left."""
    ids = list(
        TranscriptAccess.objects.filter(created_at__lt=before)
        .order_by("created_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return _access_log_delete(TranscriptAccess.objects.filter(pk__in=ids)) if ids else 0


# Retention and erasure (apps/privacy) ------------------------------------------------------------


@transaction.atomic
def communications_anonymise(*, ids: Iterable[int]) -> int:
    """Replace the words of these lines with ``ANONYMISED_TEXT`` and drop who wrote them (the
    author's address) and their metadata; the rows stay (speaker, time, duration), so the
    conversation's figures do not change. Lines without words keep their text. Returns how many
    lines lost words; a second call changes nothing."""
    rows = Communication.objects.filter(pk__in=list(ids))
    changed = (
        rows.exclude(text=ANONYMISED_TEXT)
        .exclude(text__regex=NO_WORDS_REGEX)
        .update(text=ANONYMISED_TEXT, author_address="", metadata={})
    )
    rows.exclude(author_address="").update(author_address="")
    return changed


def communications_anonymise_older(*, before: datetime, limit: int) -> int:
    """One batch of the transcripts' retention: up to ``limit`` lines spoken before ``before``
    that still hold words, in one short transaction."""
    ids = list(
        selectors.communications_with_words(before=before)
        .order_by()
        .values_list("pk", flat=True)[:limit]
    )
    return communications_anonymise(ids=ids) if ids else 0


@transaction.atomic
def conversations_erase(
    *, conversation_ids: Iterable[int], call_ids: Iterable[int] = ()
) -> dict[str, int]:
    """Erase a customer from these conversations (a right-to-erasure request): every line's
    words (the agent's too: they repeat what the customer said), the customer participants'
    names, addresses and profile ids, the conversations' names and attributes, and the numbers
    of their calls (and of the calls in ``call_ids``). Agents, times and figures stay. Returns
    the rows changed per kind; a second call changes nothing."""
    conversation_ids = list(conversation_ids)
    communication_ids = Communication.objects.filter(
        conversation_id__in=conversation_ids
    ).values_list("pk", flat=True)
    communications = communications_anonymise(ids=communication_ids)
    customers = (
        Participant.objects.filter(conversation_id__in=conversation_ids)
        .exclude(type__in=AGENT_TYPES)
        .exclude(name="", addresses=[], profile_id="")
        .update(name="", addresses=[], profile_id="")
    )
    named = (
        Conversation.objects.filter(pk__in=conversation_ids)
        .exclude(name="", attributes={})
        .update(name="", attributes={})
    )
    calls = (
        Call.objects.filter(Q(conversation_id__in=conversation_ids) | Q(pk__in=list(call_ids)))
        .exclude(from_number="", to_number="")
        .update(from_number="", to_number="")
    )
    return {
        "communications": communications,
        "participants": customers,
        "conversations": named,
        "calls": calls,
    }
