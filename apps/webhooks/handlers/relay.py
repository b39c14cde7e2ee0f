"""ConversationRelay ``<Connect action>`` callbacks, answered at once: Twilio waits for TwiML."""

from __future__ import annotations

from typing import Any

from apps.relay import services as relay
from apps.webhooks.parsing import integer, require, text

from .base import Outcome


def natural_key(params: dict[str, Any]) -> str | None:
    call_sid = params.get("CallSid")
    if not call_sid:
        return None
    return f"{call_sid}:{params.get('SessionId', '')}:{params.get('SessionStatus', '')}"


def action_of(params: dict[str, Any]) -> relay.RelayAction:
    return relay.RelayAction(
        call_sid=require(params, "CallSid", "relay action"),
        session_id=text(params.get("SessionId")),
        session_status=text(params.get("SessionStatus")).lower(),
        handoff_data=text(params.get("HandoffData")),
        session_duration=integer(params.get("SessionDuration")),
        from_number=text(params.get("From")),
        to_number=text(params.get("To")),
    )


def respond(params: dict[str, Any]) -> tuple[Outcome, str]:
    """Apply the callback and return the TwiML to answer with."""
    action = action_of(params)
    if action.session_status == "ended" or (
        action.handoff_data and action.session_status != "failed"
    ):
        handoff, created = relay.handoff_record(action)
        return (
            Outcome(detail={"handoff": handoff.pk, "created": created}),
            relay.twiml_for_handoff(handoff),
        )
    if action.session_status == "completed":
        return Outcome(detail={"hangup": True}), relay.twiml_hangup()
    # "failed", a dropped socket ("in-progress" with an error) or anything new: never leave the
    # caller stranded, route them to a human.
    error = " ".join(
        filter(None, [text(params.get("ErrorCode")), text(params.get("ErrorMessage"))])
    )
    return (
        Outcome(detail={"fallback": True, "session_status": action.session_status, "error": error}),
        relay.twiml_for_failure(action, error=error),
    )


def fallback_twiml(params: dict[str, Any]) -> str:
    """The route to a human when the callback itself cannot be applied (even without a CallSid)."""
    action = relay.RelayAction(
        call_sid=text(params.get("CallSid")),
        session_id="",
        session_status="failed",
        from_number=text(params.get("From")),
    )
    return relay.twiml_for_failure(action)


def handle(params: dict[str, Any]) -> Outcome:
    return respond(params)[0]
