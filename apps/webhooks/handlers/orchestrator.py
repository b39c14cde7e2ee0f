"""Conversation Orchestrator status callbacks: ``{eventType, timestamp, data}`` (twilio-wire §1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from apps.conversations import services as conversations
from apps.intelligence import services as intelligence
from apps.webhooks.parsing import PayloadError, integer, number, obj, parse_time, require, text

from .base import Outcome


def conversation_input(
    event: dict[str, Any], data: dict[str, Any]
) -> conversations.ConversationInput:
    """A CONVERSATION_CREATED/UPDATED as the conversations app applies it (one at a time in
    ``_conversation``, or a batch's together in ``conversations_handle``)."""
    return conversations.ConversationInput(
        twilio_id=require(data, "id", "conversation"),
        status=text(data.get("status")).upper() or "ACTIVE",
        version=parse_time(data.get("updatedAt")) or parse_time(event.get("timestamp")),
        name=data.get("name") if isinstance(data.get("name"), str) else None,
        account_id=text(data.get("accountId")),
        configuration_id=text(data.get("configurationId")),
        created_at=parse_time(data.get("createdAt")),
    )


def _conversation(event: dict[str, Any], data: dict[str, Any]) -> Outcome:
    item = conversation_input(event, data)
    conversation, changed = conversations.conversation_apply(
        twilio_id=item.twilio_id,
        status=item.status,
        version=item.version,
        name=item.name,
        account_id=item.account_id,
        configuration_id=item.configuration_id,
        created_at=item.created_at,
    )
    if changed:
        # Rules on INACTIVE / END; each fires once per trigger point however often it arrives.
        intelligence.conversation_status_seen(
            conversation_id=conversation.pk, status=conversation.status, at=item.version
        )
    return Outcome(detail={"conversation": item.twilio_id, "applied": changed})


def conversations_handle(items: Sequence[conversations.ConversationInput]) -> list[Outcome]:
    """Apply a batch's conversation events together (``conversations.conversations_apply``) and
    create the trigger points of the ones that changed in one statement; an outcome per item,
    in order. Call inside the batch's transaction."""
    applied = conversations.conversations_apply(items)
    intelligence.conversations_status_seen(
        seen=[
            (a.conversation_id, a.status, item.version)
            for item, a in zip(items, applied, strict=True)
            if a.changed
        ]
    )
    return [
        Outcome(detail={"conversation": item.twilio_id, "applied": a.changed})
        for item, a in zip(items, applied, strict=True)
    ]


def participant_input(
    event: dict[str, Any], data: dict[str, Any]
) -> conversations.ParticipantInput:
    """A PARTICIPANT_ADDED/UPDATED/REMOVED as the conversations app applies it."""
    twilio_id = require(data, "id", "participant")
    conversation_id = require(data, "conversationId", "participant")
    at = parse_time(event.get("timestamp"))
    return conversations.ParticipantInput(
        twilio_id=twilio_id,
        conversation_twilio_id=conversation_id,
        type=text(data.get("type")).upper() or "UNKNOWN",
        version=parse_time(data.get("updatedAt")) or at,
        name=text(data.get("name")),
        addresses=tuple(a for a in data.get("addresses") or [] if isinstance(a, dict)),
        profile_id=text(data.get("profileId")),
        joined_at=parse_time(data.get("createdAt")) or at,
        removed_at=(at or parse_time(data.get("updatedAt")))
        if event.get("eventType") == "PARTICIPANT_REMOVED"
        else None,
        account_id=text(data.get("accountId")),
    )


def _participant(event: dict[str, Any], data: dict[str, Any]) -> Outcome:
    item = participant_input(event, data)
    _, changed = conversations.participant_apply(
        twilio_id=item.twilio_id,
        conversation_twilio_id=item.conversation_twilio_id,
        type=item.type,
        version=item.version,
        name=item.name,
        addresses=item.addresses,
        profile_id=item.profile_id,
        joined_at=item.joined_at,
        removed_at=item.removed_at,
        account_id=item.account_id,
    )
    return Outcome(detail={"participant": item.twilio_id, "applied": changed})


def participants_handle(items: Sequence[conversations.ParticipantInput]) -> list[Outcome]:
    """Apply a batch's participant events together (``conversations.participants_apply``)."""
    applied = conversations.participants_apply(items)
    return [
        Outcome(detail={"participant": item.twilio_id, "applied": changed})
        for item, changed in zip(items, applied, strict=True)
    ]


def communication_input(
    event: dict[str, Any], data: dict[str, Any]
) -> conversations.CommunicationInput:
    """A COMMUNICATION_CREATED/UPDATED as the conversations app applies it (one at a time in
    ``_communication``, or a batch's together in ``communications_handle``)."""
    twilio_id = require(data, "id", "communication")
    conversation_id = require(data, "conversationId", "communication")
    author = obj(data.get("author"))
    content = obj(data.get("content"))
    transcription = obj(content.get("transcription"))
    occurred_at = (
        parse_time(data.get("occurredAt"))
        or parse_time(data.get("createdAt"))
        or parse_time(event.get("timestamp"))
    )
    if occurred_at is None:
        raise PayloadError("communication: no usable occurredAt, createdAt or timestamp")
    body = content.get("text")
    if body is None and isinstance(data.get("content"), str):
        body = data["content"]
    words = transcription.get("words") or []
    duration_ms = None
    if (
        words
        and isinstance(words, list)
        and all(isinstance(w, dict) for w in (words[0], words[-1]))
    ):
        start, end = number(words[0].get("startTime")), number(words[-1].get("endTime"))
        if start is not None and end is not None and end >= start:
            duration_ms = int((end - start) * 1000)
    return conversations.CommunicationInput(
        twilio_id=twilio_id,
        conversation_twilio_id=conversation_id,
        occurred_at=occurred_at,
        text=text(body),
        author_participant_id=text(author.get("participantId")),
        author_address=text(author.get("address")),
        channel=text(author.get("channel") or data.get("channel")).upper(),
        content_type=text(content.get("type")).upper() or "TEXT",
        confidence=number(transcription.get("confidence")),
        duration_ms=duration_ms or integer(data.get("durationMs")),
        channel_id=text(data.get("channelId")),
        resource_id=text(data.get("resourceId")),
        version=parse_time(data.get("updatedAt")) or parse_time(event.get("timestamp")),
        account_id=text(data.get("accountId")),
        metadata={"transcription_channel": transcription.get("channel")} if transcription else None,
    )


def _communication(event: dict[str, Any], data: dict[str, Any]) -> Outcome:
    item = communication_input(event, data)
    communication, changed = conversations.communication_apply(item)
    if changed:
        intelligence.communication_added(
            conversation_id=communication.conversation_id, communication_id=communication.pk
        )
    return Outcome(detail={"communication": item.twilio_id, "applied": changed})


def communications_handle(items: Sequence[conversations.CommunicationInput]) -> list[Outcome]:
    """Apply a batch's communications together (``conversations.communications_apply``) and
    create the trigger points of every one stored in one statement; an outcome per item, in
    order. Call inside the batch's transaction."""
    applied = conversations.communications_apply(items)
    intelligence.communications_added(
        added=[(a.conversation_id, a.communication_id, a.later) for a in applied if a.changed]
    )
    return [
        Outcome(detail={"communication": item.twilio_id, "applied": a.changed})
        for item, a in zip(items, applied, strict=True)
    ]


HANDLERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Outcome]] = {
    "CONVERSATION_CREATED": _conversation,
    "CONVERSATION_UPDATED": _conversation,
    "PARTICIPANT_ADDED": _participant,
    "PARTICIPANT_UPDATED": _participant,
    "PARTICIPANT_REMOVED": _participant,
    "COMMUNICATION_CREATED": _communication,
    "COMMUNICATION_UPDATED": _communication,
}


def event_type_of(payload: Any) -> str:
    return text(obj(payload).get("eventType")).upper()


def natural_key(payload: Any) -> str | None:
    """COR events have no id of their own: data.id + eventType + data.updatedAt (§6.3)."""
    event = obj(payload)
    data = obj(event.get("data"))
    if not data.get("id"):
        return None
    version = data.get("updatedAt") or event.get("timestamp") or ""
    return f"{event_type_of(event)}:{data['id']}:{version}"


COMMUNICATION_TYPES = frozenset({"COMMUNICATION_CREATED", "COMMUNICATION_UPDATED"})
Batchable = (
    conversations.CommunicationInput
    | conversations.ConversationInput
    | conversations.ParticipantInput
)
_INPUTS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Batchable]] = {
    "CONVERSATION_CREATED": conversation_input,
    "CONVERSATION_UPDATED": conversation_input,
    "PARTICIPANT_ADDED": participant_input,
    "PARTICIPANT_UPDATED": participant_input,
    "PARTICIPANT_REMOVED": participant_input,
    "COMMUNICATION_CREATED": communication_input,
    "COMMUNICATION_UPDATED": communication_input,
}


def parse_batchable(payload: Any) -> Batchable | None:
    """What this event applies (a communication, a conversation or a participant), or None for
    any other event (which ``handle`` applies on its own). Raises PayloadError as ``handle``
    would."""
    event = obj(payload)
    parse = _INPUTS.get(event_type_of(event))
    if parse is None:
        return None
    data = event.get("data")
    if not isinstance(data, dict):
        raise PayloadError(f"{event_type_of(event)}: 'data' must be an object")
    return parse(event, data)


def conversation_of(payload: Any) -> str:
    """The Twilio id of the conversation an event writes to ("" if it names none)."""
    event = obj(payload)
    data = obj(event.get("data"))
    if event_type_of(event).startswith("CONVERSATION_"):
        return text(data.get("id"))
    return text(data.get("conversationId"))


def handle(payload: Any) -> Outcome:
    event = obj(payload)
    event_type = event_type_of(event)
    handler = HANDLERS.get(event_type)
    if handler is None:
        return Outcome.ignored(f"unknown eventType {event_type or '(none)'!r}")
    data = event.get("data")
    if not isinstance(data, dict):
        raise PayloadError(f"{event_type}: 'data' must be an object")
    return handler(event, data)
