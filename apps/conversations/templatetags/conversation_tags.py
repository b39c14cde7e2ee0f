"""Presentation helpers for conversation pages: durations, offsets, speakers, badges."""

from __future__ import annotations

from typing import Any

from django import template

from .. import display
from ..choices import Channel, ConversationStatus, ParticipantType
from ..models import Conversation, Participant

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


@register.filter
def duration(seconds: float | None) -> str:
    """``75`` -> ``1:15``; ``3723`` -> ``1:02:03``; unknown -> an em dash."""
    if seconds is None:
        return "—"
    return display.clock(seconds, pad_minutes=False)


line_offset = register.filter(display.line_offset)
speaker_kind = register.filter(display.speaker_kind)
speaker_role = register.filter(display.speaker_role)
speaker_name = register.filter(display.speaker_name)


@register.filter
def customers(conversation: Conversation) -> list[Participant]:
    """The customers of a conversation, from its prefetched participants."""
    return [p for p in conversation.participants.all() if p.type == ParticipantType.CUSTOMER]


@register.filter
def agents(conversation: Conversation) -> list[Participant]:
    """The human and AI agents of a conversation, from its prefetched participants."""
    return [p for p in conversation.participants.all() if p.is_agent]


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
