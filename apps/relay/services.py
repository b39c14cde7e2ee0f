"""Handoffs from ConversationRelay and the TwiML that routes the caller to a human."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from twilio.twiml.voice_response import VoiceResponse

from apps.common.changes import conversations_changed
from apps.common.redaction import redact_data
from apps.conversations import selectors as conversations_selectors
from apps.conversations import services as conversations

from .models import Handoff

_REASON_KEYS = ("reason", "reasonText", "handoffReason")
_SUMMARY_KEYS = ("summary", "callSummary", "call_summary", "conversationSummary")
_SENTIMENT_KEYS = ("sentiment", "customerSentiment")


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = data.get(key)
        if value not in (None, ""):
            return value if isinstance(value, str) else json.dumps(value)
    return ""


def _without_nul(value: Any) -> Any:
    """``value`` with NUL removed from every string: PostgreSQL's jsonb refuses "\\u0000"
    (found by tests/webhooks/test_fuzz.py: the handoff failed and the caller got the fallback)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def handoff_data_parse(raw: str) -> dict[str, Any]:
    """HandoffData is a JSON string chosen by the virtual agent; anything else is kept as text.

    TAC nests custom attributes under ``attributes``; they are lifted to the top level.
    """
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"reason": raw}
    if not isinstance(data, dict):
        return {"reason": raw}
    data = _without_nul(data)
    nested = data.get("attributes")
    if isinstance(nested, dict):
        data = {**nested, **{k: v for k, v in data.items() if k != "attributes"}}
    return data


@dataclass(frozen=True)
class RelayAction:
    call_sid: str
    session_id: str
    session_status: str
    handoff_data: str = ""
    session_duration: int | None = None
    from_number: str = ""
    to_number: str = ""


@transaction.atomic
def handoff_record(action: RelayAction) -> tuple[Handoff, bool]:
    """Record the handoff of one relay session, once.

    The virtual agent's reason, summary and attributes are redacted as communications are: a
    summary of the call may repeat the card number the caller read out."""
    existing = Handoff.objects.filter(
        call_sid=action.call_sid, session_id=action.session_id
    ).first()
    if existing is not None:
        return existing, False
    parsed, _ = redact_data(handoff_data_parse(action.handoff_data))
    data: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    conversation_twilio_id = str(data.get("conversationId") or "")
    conversation = None
    if conversation_twilio_id:
        conversation = conversations.conversation_ensure(twilio_id=conversation_twilio_id)
    if conversation is None:
        conversation = conversations_selectors.conversation_for_call(call_sid=action.call_sid)
    if conversation is not None:
        conversations.call_link(call_sid=action.call_sid, conversation=conversation)
    try:
        with transaction.atomic():
            handoff = Handoff.objects.create(
                call_sid=action.call_sid,
                session_id=action.session_id,
                conversation=conversation,
                conversation_twilio_id=conversation_twilio_id
                or (conversation.twilio_id if conversation else ""),
                reason_code=str(data.get("reasonCode") or ""),
                reason=_first(data, _REASON_KEYS),
                summary=_first(data, _SUMMARY_KEYS),
                sentiment=_first(data, _SENTIMENT_KEYS),
                attributes=data,
                session_status=action.session_status,
                session_duration=action.session_duration,
                from_number=action.from_number,
                to_number=action.to_number,
            )
    except IntegrityError:
        return Handoff.objects.get(call_sid=action.call_sid, session_id=action.session_id), False
    conversations_changed([handoff.conversation_id])
    return handoff, True


def handoff_context_url(handoff: Handoff) -> str:
    return settings.PUBLIC_BASE_URL + reverse("handoff-detail", args=[handoff.pk])


def task_attributes(handoff: Handoff) -> dict[str, Any]:
    """Task attributes for TaskRouter/Flex: the virtual agent's own, plus what a human needs."""
    attributes: dict[str, Any] = {
        key: value
        for key, value in handoff.attributes.items()
        if isinstance(value, (str, int, float, bool)) or value is None
    }
    attributes.update(
        {
            "type": "inbound",
            "name": handoff.from_number or attributes.get("name", ""),
            "call_sid": handoff.call_sid,
            "reasonCode": handoff.reason_code or "live-agent-handoff",
            "reason": handoff.reason,
            "summary": handoff.summary,
            "sentiment": handoff.sentiment,
            "conversationId": handoff.conversation_twilio_id,
            "handoffUrl": handoff_context_url(handoff),
        }
    )
    return attributes


def _enqueue(response: VoiceResponse, attributes: dict[str, Any]) -> None:
    enqueue = response.enqueue(workflow_sid=settings.HANDOFF_WORKFLOW_SID or None)
    enqueue.task(
        # Sorted: attributes come back from jsonb in another key order, and a retried callback
        # must get byte-identical TwiML.
        json.dumps(attributes, separators=(",", ":"), sort_keys=True),
        priority=settings.HANDOFF_TASK_PRIORITY,
        timeout=settings.HANDOFF_TASK_TIMEOUT,
    )


def twiml_for_handoff(handoff: Handoff) -> str:
    response = VoiceResponse()
    _enqueue(response, task_attributes(handoff))
    return str(response)


def twiml_for_failure(action: RelayAction, *, error: str = "") -> str:
    """The session failed: still get the caller to a human (RELAY_FAILED_FALLBACK)."""
    response = VoiceResponse()
    if settings.RELAY_FAILED_MESSAGE:
        response.say(settings.RELAY_FAILED_MESSAGE)
    fallback = settings.RELAY_FAILED_FALLBACK
    if fallback.startswith("dial:"):
        response.dial(fallback.removeprefix("dial:"))
    else:
        _enqueue(
            response,
            {
                "type": "inbound",
                "name": action.from_number,
                "call_sid": action.call_sid,
                "reasonCode": "relay-failed",
                "reason": error or "The virtual agent session failed.",
            },
        )
    return str(response)


def twiml_hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


@transaction.atomic
def handoffs_erase(*, ids: Iterable[int]) -> int:
    """Erasure (apps/privacy): the virtual agent's words about the customer (reason, summary,
    attributes) and the call's numbers. The handoff, its reason code, sentiment and times stay,
    so it still counts as a handoff. Returns how many changed; a second call none."""
    return (
        Handoff.objects.filter(pk__in=list(ids))
        .exclude(reason="", summary="", attributes={}, from_number="", to_number="")
        .update(reason="", summary="", attributes={}, from_number="", to_number="")
    )
