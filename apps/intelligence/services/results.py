"""Storing operator results: Twilio's (Conversation Intelligence webhooks) and ccportal's own
rows share one table and one shape (twilio-wire §2.4). Results are immutable: a second delivery
of the same result changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from apps.common import partitions
from apps.common.changes import conversations_changed
from apps.common.redaction import redact_data
from apps.conversations import services as conversations

from ..models import OperatorResult, OutputFormat, ResultSource

# Older formats some senders still use; mapped onto the current four (twilio-wire §2.5).
_LEGACY_FORMATS = {"GENERATION": OutputFormat.TEXT}


def output_format_normalise(value: str) -> str | None:
    upper = (value or "").upper()
    if upper in OutputFormat.values:
        return upper
    return _LEGACY_FORMATS.get(upper)


def result_normalise(output_format: str, result: Any) -> Any:
    """A TEXT result always as ``{"text": ...}`` (twilio-wire §2.5), so readers need one shape.

    Some senders post a bare string; legacy GENERATION results (stored as TEXT) wrap it as
    ``{"result": ...}``.
    """
    if output_format != OutputFormat.TEXT:
        return result
    if isinstance(result, str):
        return {"text": result}
    if isinstance(result, dict) and "text" not in result and isinstance(result.get("result"), str):
        return {"text": result["result"], **{k: v for k, v in result.items() if k != "result"}}
    return result


@dataclass(frozen=True)
class OperatorResultInput:
    result_id: str
    conversation_twilio_id: str
    operator_id: str
    output_format: str
    result: Any
    operator_name: str = ""
    operator_version: str = ""
    operator_parameters: Any = None
    account_id: str = ""
    configuration_id: str = ""
    configuration_name: str = ""
    configuration_version: str = ""
    rule_id: str = ""
    trigger_on: str = ""
    trigger_at: datetime | None = None
    communication_first: str = ""
    communication_last: str = ""
    channels: list[str] = field(default_factory=list)
    reference_ids: list[str] = field(default_factory=list)
    participants: list[Any] = field(default_factory=list)
    execution_details: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    date_created: datetime | None = None
    source: str = ResultSource.TWILIO


def _call_sid(reference_ids: list[str]) -> str:
    # Several CA… may appear (transfers); the last one is the current leg (twilio-wire §2.8).
    calls = [ref for ref in reference_ids if ref.startswith("CA")]
    return calls[-1] if calls else ""


@transaction.atomic
def operator_result_store(data: OperatorResultInput) -> tuple[OperatorResult, bool]:
    """Store one result once; results are immutable, so a second delivery changes nothing.

    The result's texts are redacted as communications are (Twilio's operators read the
    unredacted call, and a summary or extraction may quote a card number or an address)."""
    existing = _result_by_id(data.result_id)
    if existing is not None:
        return existing, False
    conversation = conversations.conversation_ensure(
        twilio_id=data.conversation_twilio_id, account_id=data.account_id, at=data.trigger_at
    )
    call_sid = _call_sid(data.reference_ids)
    redacted, counts = redact_data(result_normalise(data.output_format, data.result))
    metadata = {**data.metadata, "redacted": counts} if counts else data.metadata
    if call_sid:
        conversations.call_link(call_sid=call_sid, conversation=conversation)
    fields = {
        "source": data.source,
        "conversation": conversation,
        "call_sid": call_sid,
        "account_id": data.account_id,
        "configuration_id": data.configuration_id,
        "configuration_name": data.configuration_name,
        "configuration_version": data.configuration_version,
        "rule_id": data.rule_id,
        "operator_id": data.operator_id,
        "operator_name": data.operator_name,
        "operator_version": data.operator_version,
        "operator_parameters": data.operator_parameters,
        "output_format": data.output_format,
        "result": redacted,
        "trigger_on": data.trigger_on,
        "trigger_at": data.trigger_at,
        "communication_first": data.communication_first,
        "communication_last": data.communication_last,
        "channels": data.channels,
        "reference_ids": data.reference_ids,
        "participants": data.participants,
        "execution_details": data.execution_details,
        "metadata": metadata,
        "date_created": data.date_created,
    }
    try:
        with transaction.atomic():  # a twin delivery may store it between the read and here
            result = OperatorResult.objects.create(result_id=data.result_id, **fields)
    except IntegrityError:
        twin = _result_by_id(data.result_id)
        if twin is None:  # not the key's unique violation: nothing to return instead
            raise
        return twin, False
    conversations_changed([conversation.pk])
    return result, True


def _result_by_id(result_id: str) -> OperatorResult | None:
    """The result of that Twilio id, read from its month's partition only (the key table
    names the month; without it the lookup probes every month's index)."""
    month = partitions.key_months(partitions.OPERATOR_RESULTS, [result_id]).get(result_id)
    if month is None:
        return None
    return OperatorResult.objects.filter(result_id=result_id, conversation_month=month).first()
