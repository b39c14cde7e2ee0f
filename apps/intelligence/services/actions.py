"""A rule's actions on its results: a QA flag (on a condition), a signed JSON webhook, a live
broadcast. Applied in the transaction that finishes the execution; what leaves the process
(the webhook POST, the broadcast) happens after commit."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.common import outbound
from apps.common.changes import conversations_changed
from apps.common.tasks import enqueue
from apps.live.streams import live_publish_many

from ..choices import ConditionOp, DeliveryStatus, FlagStatus, ResultStatus
from ..models import Flag, OperatorResult, RuleExecution, WebhookDelivery
from ..operators import OperatorOutput
from ..operators.base import OperatorSpec
from ..selectors.live import event_digest

DELIVER_TASK = "apps.intelligence.tasks.webhook_deliver"

FlagHook = Callable[[Flag], object]  # what it returns is ignored
_FLAG_RAISED: list[FlagHook] = []


def on_flag_raised(hook: FlagHook) -> None:
    """Call ``hook(flag)`` whenever a rule raises a new flag, inside the transaction that
    writes it (a raise of an open flag again is not new). Apps above this one register in their
    ``AppConfig.ready`` (the QA queue makes an item of every flag), so the flag and what
    follows from it commit together or not at all."""
    if hook not in _FLAG_RAISED:
        _FLAG_RAISED.append(hook)


@transaction.atomic
def flags_resolve(
    *, flag_ids: list[int] | None = None, conversation_id: int | None = None, user: Any, note: str
) -> int:
    """Close open flags (the given ones, or all of a conversation's); returns how many closed.

    Guarded: a flag already resolved stays as it was resolved.
    """
    if flag_ids is None and conversation_id is None:
        return 0
    flags = Flag.objects.filter(status=FlagStatus.OPEN)
    if flag_ids is not None:
        flags = flags.filter(pk__in=flag_ids)
    if conversation_id is not None:
        flags = flags.filter(conversation_id=conversation_id)
    now = timezone.now()
    return flags.update(
        status=FlagStatus.RESOLVED,
        resolved_at=now,
        resolved_by=user if getattr(user, "pk", None) else None,
        resolution=note[:2000],
        updated_at=now,
    )


Stored = tuple[OperatorSpec, OperatorOutput, OperatorResult | None]


def actions_apply_many(applied: list[tuple[RuleExecution, list[Stored]]]) -> None:
    """What the rules do with a batch of executions' results, in order: a flag and a signed
    webhook per execution (few rules have them), the live broadcasts in one statement
    (``live_publish_many``), sent together after commit."""
    events = []
    for execution, stored in applied:
        rule = execution.rule
        flag = flag_apply(execution, stored) if rule.flag else None
        if rule.webhook_url:
            delivery_create(execution, stored, flag=flag)
        if rule.broadcast:
            events.append(
                (execution.conversation_id, "insights", _insights_event(execution, stored, flag))
            )
    live_publish_many(events)


def _insights_event(execution: RuleExecution, stored: list[Stored], flag: Flag | None) -> Any:
    return {
        "conversation": execution.conversation_id,
        "rule": execution.rule_id,
        "execution": execution.pk,
        # The newest line the execution read: the page knows what the results cover.
        "through": execution.through_communication_id,
        "operators": [spec.key for spec, _, _ in stored],
        "flag": flag.pk if flag else None,
        # What changed, for the page to apply without asking (checklist, sentiment...).
        "data": event_digest(
            (spec.kind, output.result)
            for spec, output, _ in stored
            if output.status == ResultStatus.OK
        ),
    }


def _field(value: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def condition_holds(*, result: Any, field: str, op: str, expected: str) -> bool:
    """A rule's flag condition on one result: ``field`` (dotted path) ``op`` ``expected``."""
    value = _field(result, field) if field else result
    if op == ConditionOp.ANY:
        return value not in (None, "", [], {})
    if op in (ConditionOp.LESS_THAN, ConditionOp.GREATER_THAN):
        try:
            number, bound = float(value), float(expected)
        except (TypeError, ValueError):
            return False
        return number < bound if op == ConditionOp.LESS_THAN else number > bound
    if op == ConditionOp.CONTAINS:
        if isinstance(value, list):
            return any(str(item).lower() == expected.lower() for item in value)
        return expected.lower() in str(value or "").lower()
    same = str(value).lower() == expected.lower()
    return same if op == ConditionOp.EQUALS else not same


def flag_apply(
    execution: RuleExecution,
    stored: list[tuple[OperatorSpec, OperatorOutput, OperatorResult | None]],
) -> Flag | None:
    rule = execution.rule
    trigger: OperatorResult | None = None
    if rule.flag_operator_id is not None:
        match = next(
            (
                (output, result)
                for spec, output, result in stored
                if spec.operator_id == rule.flag_operator_id and output.status == ResultStatus.OK
            ),
            None,
        )
        if match is None:
            return None
        output, trigger = match
        if not condition_holds(
            result=output.result,
            field=rule.flag_field,
            op=rule.flag_op or ConditionOp.ANY,
            expected=rule.flag_value,
        ):
            return None
    reason = rule.flag_reason or f"Raised by rule “{rule.name}”"
    existing = (
        Flag.objects.select_for_update()
        .filter(conversation_id=execution.conversation_id, rule=rule, status=FlagStatus.OPEN)
        .first()
    )
    if existing is not None:
        if existing.execution_id != execution.pk:
            Flag.objects.filter(pk=existing.pk).update(
                raised_count=F("raised_count") + 1,
                execution=execution,
                operator_result=trigger,
                reason=reason,
                updated_at=timezone.now(),
            )
        return existing
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                conversation_id=execution.conversation_id,
                rule=rule,
                execution=execution,
                operator_result=trigger,
                reason=reason,
            )
            for hook in _FLAG_RAISED:
                hook(flag)
            conversations_changed([flag.conversation_id])
            return flag
    except IntegrityError:  # raised by a concurrent execution of the same rule
        return Flag.objects.filter(
            conversation_id=execution.conversation_id, rule=rule, status=FlagStatus.OPEN
        ).first()


@transaction.atomic
def flag_raise(*, conversation_id: int, reason: str) -> Flag:
    """A flag raised by something other than a rule (a live alert set to raise one): it goes
    to the QA queue like a rule's flag (the ``on_flag_raised`` hooks run)."""
    flag = Flag.objects.create(conversation_id=conversation_id, reason=reason[:2000])
    for hook in _FLAG_RAISED:
        hook(flag)
    conversations_changed([conversation_id])
    return flag


def webhook_payload(
    execution: RuleExecution,
    stored: list[tuple[OperatorSpec, OperatorOutput, OperatorResult | None]],
    *,
    flag: Flag | None,
) -> dict[str, Any]:
    """The rule's webhook body, in Twilio's rule-execution shape (twilio-wire §2.3) plus ours."""
    conversation = execution.conversation
    items = []
    for spec, output, result in stored:
        items.append(
            {
                "id": result.result_id
                if result
                else f"ccportal_operatorresult_{execution.pk}_{spec.operator_id}",
                "operator": {
                    "id": f"ccportal_operator_{spec.key}",
                    "displayName": spec.name,
                    "version": spec.number,
                    "parameters": spec.parameters or None,
                },
                "outputFormat": spec.output_format,
                "result": output.result,
                "status": output.status,
                "error": output.error or None,
                "referenceIds": list(conversation.call_sids or []),
                "executionDetails": {
                    "trigger": {
                        "on": execution.trigger_on,
                        "timestamp": execution.triggered_at.isoformat(),
                    }
                },
                "metadata": {"system": output.system},
            }
        )
    return {
        "accountId": conversation.account_id,
        "conversationId": conversation.twilio_id,
        "intelligenceConfiguration": {
            "id": "ccportal",
            "displayName": "ccportal rules",
            "ruleId": f"ccportal_rule_{execution.rule_id}",
        },
        "operatorResults": items,
        "ccportal": {
            "conversation": conversation.pk,
            "rule": {"id": execution.rule_id, "name": execution.rule.name},
            "execution": execution.pk,
            "triggerPoint": execution.trigger_point,
            "flag": None if flag is None else {"id": flag.pk, "reason": flag.reason},
        },
    }


def delivery_create(
    execution: RuleExecution,
    stored: list[tuple[OperatorSpec, OperatorOutput, OperatorResult | None]],
    *,
    flag: Flag | None,
) -> None:
    delivery, created = WebhookDelivery.objects.get_or_create(
        execution=execution,
        url=execution.rule.webhook_url,
        defaults={
            "payload": json.loads(
                json.dumps(webhook_payload(execution, stored, flag=flag), default=str)
            )
        },
    )
    if created:
        transaction.on_commit(lambda: enqueue(DELIVER_TASK, delivery.pk))


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>``, checked by the receiver."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class DeliveryRetry(Exception):
    """The receiver did not take the webhook; try again later."""


def webhook_deliver(*, delivery_id: int, final_attempt: bool = False) -> str | None:
    """POST one delivery, signed with its rule's secret; 2xx settles it, anything else is
    retried by the task. An address that is not allowed (apps.common.outbound: https only, a
    public address checked as it is connected to) fails the delivery at once, unsent."""
    delivery = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .exclude(status=DeliveryStatus.DELIVERED)
        .select_related("execution__rule")
        .first()
    )
    if delivery is None:
        return None
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    secret = delivery.execution.rule.webhook_secret or settings.INTELLIGENCE_WEBHOOK_SECRET
    if not secret:
        _delivery_failed(delivery, None, "Not sent: the rule has no webhook secret.", True)
        return DeliveryStatus.FAILED
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ccportal-webhooks/1",
        "X-Ccportal-Delivery": str(delivery.pk),
        "X-Ccportal-Event": "rule.execution",
        "X-Ccportal-Signature": webhook_signature(secret=secret, timestamp=timestamp, body=body),
    }
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    try:
        response = outbound.post(
            delivery.url,
            body=body,
            headers=headers,
            timeout=settings.INTELLIGENCE_WEBHOOK_TIMEOUT_SECONDS,
        )
    except outbound.OutboundRefused as refused:
        _delivery_failed(delivery, None, f"Not sent: {refused}", True)
        return DeliveryStatus.FAILED
    except outbound.OutboundError as error:
        _delivery_failed(delivery, None, str(error), final_attempt)
        raise DeliveryRetry(str(error)) from error
    if 200 <= response.status < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DELIVERED,
            response_status=response.status,
            delivered_at=timezone.now(),
            updated_at=timezone.now(),
            last_error="",
        )
        return DeliveryStatus.DELIVERED
    message = f"HTTP {response.status}: {response.text[:500]}"
    _delivery_failed(delivery, response.status, message, final_attempt)
    raise DeliveryRetry(message)


def _delivery_failed(
    delivery: WebhookDelivery, status_code: int | None, message: str, final: bool
) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        response_status=status_code,
        last_error=message[:2000],
        status=DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
        updated_at=timezone.now(),
    )


# A delivery never tried this long after it was made lost its message (broker down when it was
# queued); one tried and waiting longer than the longest retry pause (tasks: 600 s) lost its
# retry (a worker died holding it). The receiver dedupes on X-Ccportal-Delivery if a slow
# retry and the sweeper's overlap.
DELIVERY_UNSENT = timedelta(minutes=2)


DELIVERY_STALLED = timedelta(minutes=15)


DELIVERY_MAX_ATTEMPTS = 7  # the task's first attempt and its 6 retries


def delivery_sweep() -> dict[str, int]:
    """Safety net (beat): re-enqueue pending deliveries whose message was lost; give up on
    those past their attempts."""
    now = timezone.now()
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
    failed = pending.filter(
        attempts__gte=DELIVERY_MAX_ATTEMPTS, updated_at__lt=now - DELIVERY_STALLED
    ).update(
        status=DeliveryStatus.FAILED, last_error="Gave up: no attempt succeeded.", updated_at=now
    )
    lost = list(
        pending.filter(
            Q(attempts=0, updated_at__lt=now - DELIVERY_UNSENT)
            | Q(attempts__gt=0, updated_at__lt=now - DELIVERY_STALLED),
            attempts__lt=DELIVERY_MAX_ATTEMPTS,
        )
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )
    if lost:
        # Marked first, so the next sweep does not queue them again while these wait.
        WebhookDelivery.objects.filter(pk__in=lost).update(updated_at=now)
        for pk in lost:
            enqueue(DELIVER_TASK, pk)
    return {"requeued": len(lost), "failed": failed}
