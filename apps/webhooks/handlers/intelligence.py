"""Conversation Intelligence rule-execution webhooks: one per rule run (twilio-wire §2.3-2.5)."""

from __future__ import annotations

from typing import Any

from apps.intelligence import services as intelligence
from apps.webhooks.choices import EventStatus
from apps.webhooks.parsing import PayloadError, obj, parse_time, require, text

from .base import Outcome


def natural_key(payload: Any) -> str | None:
    results = obj(payload).get("operatorResults")
    # Anything but a list has no key (it was a 500 for a number: found by test_fuzz.py).
    ids = sorted(
        text(r.get("id"))
        for r in (results if isinstance(results, list) else [])
        if isinstance(r, dict)
    )
    return "results:" + ",".join(ids) if ids and all(ids) else None


def handle(payload: Any) -> Outcome:
    envelope = obj(payload)
    conversation_id = require(envelope, "conversationId", "rule execution")
    results = envelope.get("operatorResults")
    if not isinstance(results, list):
        raise PayloadError("rule execution: 'operatorResults' must be a list")
    configuration = obj(envelope.get("intelligenceConfiguration"))
    stored, duplicates, ignored = [], 0, []
    for index, raw in enumerate(results):
        item = obj(raw)
        where = f"operatorResults[{index}]"
        result_id = require(item, "id", where)
        operator = obj(item.get("operator"))
        operator_id = text(operator.get("id")) or text(item.get("operatorId"))
        if not operator_id:
            raise PayloadError(f"{where}: required field 'operator.id' is missing")
        output_format = intelligence.output_format_normalise(text(item.get("outputFormat")))
        if output_format is None:
            ignored.append({"id": result_id, "outputFormat": item.get("outputFormat")})
            continue
        details = obj(item.get("executionDetails"))
        trigger = obj(details.get("trigger"))
        communications = obj(details.get("communications"))
        _, created = intelligence.operator_result_store(
            intelligence.OperatorResultInput(
                result_id=result_id,
                conversation_twilio_id=conversation_id,
                operator_id=operator_id,
                operator_name=text(
                    operator.get("displayName")
                    or operator.get("friendlyName")
                    or operator.get("name")
                ),
                operator_version=text(operator.get("version")),
                operator_parameters=operator.get("parameters"),
                output_format=output_format,
                result=item.get("result"),
                account_id=text(envelope.get("accountId")),
                configuration_id=text(configuration.get("id")),
                configuration_name=text(
                    configuration.get("displayName") or configuration.get("friendlyName")
                ),
                configuration_version=text(configuration.get("version")),
                rule_id=text(configuration.get("ruleId")),
                trigger_on=text(trigger.get("on")).upper(),
                trigger_at=parse_time(trigger.get("timestamp")),
                communication_first=text(communications.get("first")),
                communication_last=text(communications.get("last")),
                channels=[text(c) for c in details.get("channels") or [] if c],
                reference_ids=[text(r)[:128] for r in item.get("referenceIds") or [] if r],
                participants=[p for p in details.get("participants") or [] if isinstance(p, dict)],
                execution_details=details,
                metadata=obj(item.get("metadata")),
                date_created=parse_time(item.get("dateCreated")),
            )
        )
        if created:
            stored.append(result_id)
        else:
            duplicates += 1
    detail = {"conversation": conversation_id, "stored": stored, "duplicates": duplicates}
    if ignored:
        detail["ignored"] = ignored
    if ignored and not stored and not duplicates:
        return Outcome(
            EventStatus.IGNORED, {**detail, "reason": "no result with a known outputFormat"}
        )
    return Outcome(detail=detail)
