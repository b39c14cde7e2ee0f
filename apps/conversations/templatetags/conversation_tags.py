"""Presentation helpers for conversation pages: durations, offsets, speakers, badges."""

from __future__ import annotations

from typing import Any

from django import template

from ..choices import Channel, ConversationStatus, ParticipantType
from ..models import Communication, Conversation, Participant

register = template.Library()

_STATUS_BADGES: dict[str, str] = {
    ConversationStatus.ACTIVE: "text-bg-success",
    ConversationStatus.INACTIVE: "text-bg-warning",
    ConversationStatus.CLOSED: "text-bg-secondary",
}
_CHANNEL_ICONS: dict[str, str] = {
    Channel.VOICE: "bi-telephone",
    Channel.SMS: "bi-chat-left-text",
    Channel.RCS: "bi-chat-square-text",
    Channel.WHATSAPP: "bi-whatsapp",
    Channel.CHAT: "bi-chat-dots",
    Channel.EMAIL: "bi-envelope",
}
# Side of the transcript a speaker's lines go: customers left, people and bots of ours right.
_SPEAKER_KINDS: dict[str, str] = {
    ParticipantType.CUSTOMER: "customer",
    ParticipantType.HUMAN_AGENT: "agent",
    ParticipantType.AGENT: "agent",
    ParticipantType.AI_AGENT: "ai",
}
_SPEAKER_ROLES = {"customer": "Customer", "agent": "Agent", "ai": "AI agent"}


def _clock(total_seconds: float, *, pad_minutes: bool) -> str:
    sign = "-" if total_seconds < 0 else ""
    seconds = int(abs(total_seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours and not pad_minutes:
        return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
    minutes += hours * 60
    return f"{sign}{minutes:02d}:{seconds:02d}" if pad_minutes else f"{sign}{minutes}:{seconds:02d}"


@register.filter
def duration(seconds: float | None) -> str:
    """``75`` -> ``1:15``; ``3723`` -> ``1:02:03``; unknown -> an em dash."""
    if seconds is None:
        return "—"
    return _clock(seconds, pad_minutes=False)


@register.filter
def line_offset(line: Communication, conversation: Conversation) -> str:
    """How far into the conversation a line was said, as ``mm:ss``."""
    if line.offset_ms is not None:
        return _clock(line.offset_ms / 1000, pad_minutes=True)
    if conversation.started_at is not None:
        return _clock(
            (line.occurred_at - conversation.started_at).total_seconds(), pad_minutes=True
        )
    return "—"


@register.filter
def customers(conversation: Conversation) -> list[Participant]:
    """The customers of a conversation, from its prefetched participants."""
    return [p for p in conversation.participants.all() if p.type == ParticipantType.CUSTOMER]


@register.filter
def agents(conversation: Conversation) -> list[Participant]:
    """The human and AI agents of a conversation, from its prefetched participants."""
    return [p for p in conversation.participants.all() if p.is_agent]


@register.filter
def speaker_kind(participant: Participant | None) -> str:
    """``customer``, ``agent``, ``ai`` or ``unknown``: decides the side and colour of a line."""
    if participant is None:
        return "unknown"
    return _SPEAKER_KINDS.get(participant.type, "unknown")


@register.filter
def speaker_role(participant: Participant | None) -> str:
    return _SPEAKER_ROLES.get(speaker_kind(participant), "Unknown")


@register.filter
def status_badge(status: str) -> str:
    return _STATUS_BADGES.get(status, "text-bg-light")


@register.filter
def channel_icon(channel: str) -> str:
    return _CHANNEL_ICONS.get(channel.upper(), "bi-chat")


@register.filter
def channel_label(channel: str) -> str:
    try:
        return str(Channel(channel.upper()).label)
    except ValueError:
        return channel.title()


@register.filter
def attribute_rows(attributes: Any) -> list[tuple[str, list[str]]]:
    """A conversation's free-form attributes as (label, [lines]) rows for a details card.

    Lists become one line per item, a dict of dicts one line per key, a flat dict one
    "key: value" line, so demo ``tasks``, ``labels`` and ``surveys`` read naturally without
    knowing their shape in advance. Empty values are left out.
    """
    if not isinstance(attributes, dict):
        return []
    rows = []
    for key, value in attributes.items():
        if _is_empty(value):
            continue
        if isinstance(value, list):
            lines = [_inline(item) for item in value if not _is_empty(item)]
        elif isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            lines = [f"{_label(k)} — {_inline(v)}" for k, v in value.items() if not _is_empty(v)]
        else:
            lines = [_inline(value)]
        rows.append((_label(key), lines))
    return rows


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _label(key: str) -> str:
    return str(key).replace("_", " ").strip().capitalize()


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return " · ".join(
            f"{_label(k)}: {_inline(v)}" for k, v in value.items() if not _is_empty(v)
        )
    if isinstance(value, list):
        return ", ".join(_inline(v) for v in value if not _is_empty(v))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
