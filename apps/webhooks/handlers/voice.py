"""Voice status callbacks (form-encoded ``CallSid``, ``CallStatus``, ...)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.conversations import services as conversations
from apps.webhooks.parsing import integer, parse_time, require, text

from .base import Outcome


def natural_key(params: dict[str, Any]) -> str | None:
    call_sid, status = params.get("CallSid"), params.get("CallStatus")
    if not call_sid or not status:
        return None
    return f"{call_sid}:{status}:{params.get('SequenceNumber', '')}"


def handle(params: dict[str, Any]) -> Outcome:
    call_sid = require(params, "CallSid", "voice status")
    status = require(params, "CallStatus", "voice status").lower()
    _, changed = conversations.call_status_apply(
        call_sid=call_sid,
        status=status,
        at=parse_time(params.get("Timestamp")) or timezone.now(),
        sequence=integer(params.get("SequenceNumber")),
        from_number=text(params.get("From")),
        to_number=text(params.get("To")),
        direction=text(params.get("Direction")),
        duration_seconds=integer(params.get("CallDuration") or params.get("Duration")),
    )
    return Outcome(detail={"call": call_sid, "status": status, "applied": changed})
