"""The TwiML that answers an incoming call with the virtual agent over ConversationRelay."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from twilio.twiml.voice_response import VoiceResponse

from apps.webhooks.signature import websocket_url

from .dialog import GREETING

RELAY_SOCKET_PATH = "/ws/agent/relay/"


def twiml_for_incoming_call() -> str:
    """``<Connect action>`` back to the portal's relay callback (it records the handoff and
    answers with ``<Enqueue>``), and ``<ConversationRelay>`` to the agent's socket, with DTMF
    and partial prompts on and interruptions by speech or keypad."""
    response = VoiceResponse()
    connect = response.connect(
        action=settings.PUBLIC_BASE_URL + reverse("webhook-relay-action"), method="POST"
    )
    connect.conversation_relay(
        url=websocket_url(RELAY_SOCKET_PATH),
        welcome_greeting=GREETING,
        welcome_greeting_interruptible="any",
        interruptible="any",
        dtmf_detection=True,
        partial_prompts=True,
    )
    return str(response)
