from __future__ import annotations

from django.db import models


class ConversationStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    INACTIVE = "INACTIVE", "Inactive"
    CLOSED = "CLOSED", "Closed"


class ParticipantType(models.TextChoices):
    CUSTOMER = "CUSTOMER", "Customer"
    HUMAN_AGENT = "HUMAN_AGENT", "Human agent"
    AI_AGENT = "AI_AGENT", "AI agent"
    AGENT = "AGENT", "Agent"
    UNKNOWN = "UNKNOWN", "Unknown"


AGENT_TYPES = (ParticipantType.HUMAN_AGENT, ParticipantType.AI_AGENT, ParticipantType.AGENT)


class Channel(models.TextChoices):
    """Channels Twilio documents; stored as free text, since senders add new ones."""

    VOICE = "VOICE", "Voice"
    SMS = "SMS", "SMS"
    RCS = "RCS", "RCS"
    WHATSAPP = "WHATSAPP", "WhatsApp"
    CHAT = "CHAT", "Chat"
    EMAIL = "EMAIL", "Email"


class ContentType(models.TextChoices):
    TEXT = "TEXT", "Text message"
    TRANSCRIPTION = "TRANSCRIPTION", "Voice transcription"


class AccessChannel(models.TextChoices):
    """How transcript text was read (the transcript access log)."""

    PAGE = "PAGE", "Page"
    API = "API", "API"
    EXPORT = "EXPORT", "Export"
    LIVE = "LIVE", "Live (WebSocket)"


# The preset reasons the access form offers (free text may add to or replace them).
ACCESS_REASON_PRESETS = (
    "Customer complaint or escalation",
    "QA review or calibration",
    "Coaching",
    "Dispute or legal request",
    "Investigating an incident",
)
