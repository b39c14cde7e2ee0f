"""A rule's actions: QA flags, signed webhooks, live broadcasts."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from apps.intelligence import services
from apps.intelligence.choices import ConditionOp, DeliveryStatus, FlagStatus
from apps.intelligence.models import Flag, Operator, Rule, RuleOperator, WebhookDelivery
from apps.live.groups import conversation_group

pytestmark = pytest.mark.django_db


HOOK_SECRET = "s3cret-for-the-test-hook"


def sentiment_rule(**fields) -> Rule:
    if fields.get("webhook_url"):
        fields.setdefault("webhook_secret", HOOK_SECRET)
    rule = Rule.objects.create(name="Watch sentiment", trigger_on="ON_DEMAND", **fields)
    RuleOperator.objects.create(rule=rule, operator=Operator.objects.get(key="sentiment"))
    return rule


def fire(rule, conversation, point="ON_DEMAND:1"):
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=conversation.pk,
        trigger_point=point,
        through_communication_id=None,
    )
    services.execution_run(execution_id=execution_id)
    return execution_id


@pytest.mark.parametrize(
    ("op", "value", "raised"),
    [
        # The north call's customer says "i lost my debit card": negative.
        (ConditionOp.EQUALS, "negative", True),
        (ConditionOp.NOT_EQUALS, "negative", False),
        (ConditionOp.GREATER_THAN, "-1", True),
        (ConditionOp.LESS_THAN, "-1", False),
    ],
)
def test_a_flag_is_raised_only_when_its_condition_holds(defaults, world, op, value, raised):
    rule = sentiment_rule(
        flag=True,
        flag_operator=Operator.objects.get(key="sentiment"),
        flag_field="label",
        flag_op=op,
        flag_value=value,
        flag_reason="Sentiment needs a look",
    )
    if op in (ConditionOp.GREATER_THAN, ConditionOp.LESS_THAN):
        Rule.objects.filter(pk=rule.pk).update(flag_field="score")
        rule.refresh_from_db()
    fire(rule, world.north_call)
    assert Flag.objects.filter(conversation=world.north_call).exists() is raised


def test_a_rule_firing_again_updates_its_open_flag_instead_of_adding_one(defaults, world):
    rule = sentiment_rule(flag=True, flag_reason="Review this call")
    fire(rule, world.north_call, "ON_DEMAND:1")
    fire(rule, world.north_call, "ON_DEMAND:2")
    flag = Flag.objects.get(conversation=world.north_call)
    assert (flag.status, flag.reason, flag.raised_count) == (FlagStatus.OPEN, "Review this call", 2)
    assert flag.operator_result is None  # no condition: the rule itself is the reason


def test_condition_paths_and_operators():
    result = {"label": "negative", "delta": {"delta": -0.4}, "entities": ["card", "pin"]}
    assert services.condition_holds(result=result, field="delta.delta", op="lt", expected="0")
    assert services.condition_holds(result=result, field="entities", op="contains", expected="PIN")
    assert not services.condition_holds(result=result, field="missing", op="any", expected="")
    assert not services.condition_holds(result=result, field="label", op="gt", expected="x")


def test_the_webhook_is_posted_signed_in_twilios_shape(defaults, world, settings, receiver):
    settings.INTELLIGENCE_WEBHOOK_SECRET = "the-global-one-is-not-used"
    hook = receiver(200)
    rule = sentiment_rule(webhook_url=hook.url)
    execution_id = fire(rule, world.north_call)
    delivery = WebhookDelivery.objects.get(execution_id=execution_id)

    assert services.webhook_deliver(delivery_id=delivery.pk) == DeliveryStatus.DELIVERED
    headers, body = hook.requests[0]
    timestamp, signature = (
        part.split("=", 1)[1] for part in headers["X-Ccportal-Signature"].split(",")
    )
    expected = hmac.new(
        HOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(signature, expected)
    payload = json.loads(body)
    assert payload["conversationId"] == world.north_call.twilio_id
    (item,) = payload["operatorResults"]
    assert item["operator"]["displayName"] == "Sentiment"
    assert item["outputFormat"] == "CLASSIFICATION"
    assert item["result"]["label"] in {"positive", "negative", "neutral", "mixed"}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("DELIVERED", 200, 1)
    # Delivered once: a second task run sends nothing.
    assert services.webhook_deliver(delivery_id=delivery.pk) is None
    assert len(hook.requests) == 1


def test_a_failing_receiver_is_retried_then_marked_failed(defaults, world, receiver):
    hook = receiver(500, 503)
    rule = sentiment_rule(webhook_url=hook.url)
    delivery = WebhookDelivery.objects.get(execution_id=fire(rule, world.north_call))
    with pytest.raises(services.DeliveryRetry):
        services.webhook_deliver(delivery_id=delivery.pk)
    with pytest.raises(services.DeliveryRetry):
        services.webhook_deliver(delivery_id=delivery.pk, final_attempt=True)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("FAILED", 503, 2)
    assert "HTTP 503" in delivery.last_error


def test_an_unreachable_receiver_is_a_retry_not_a_crash(defaults, world):
    rule = sentiment_rule(webhook_url="http://127.0.0.1:1/hook")
    delivery = WebhookDelivery.objects.get(execution_id=fire(rule, world.north_call))
    with pytest.raises(services.DeliveryRetry):
        services.webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert "ConnectionError" in delivery.last_error


def test_a_broadcast_rule_tells_the_conversations_group_after_commit(
    defaults, world, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(conversation_group(world.north_call.pk), channel)
    rule = sentiment_rule(broadcast=True)
    with django_capture_on_commit_callbacks(execute=True):
        execution_id = fire(rule, world.north_call)
    message = async_to_sync(layer.receive)(channel)
    assert message["event"] == "insights"
    assert message["payload"]["execution"] == execution_id
    assert message["payload"]["operators"] == ["sentiment"]
    # It carries what changed: every judged line's sentiment, so the page needs no request.
    sentiment = message["payload"]["data"]["sentiment"]
    lines = {line.twilio_id for line in world.north_call.communications.all()}
    assert {line["id"] for line in sentiment["lines"]} == lines
    assert all(line["label"] in ("positive", "negative", "neutral") for line in sentiment["lines"])
    assert sentiment["overall"]["colour"] in ("success", "danger", "secondary")


def test_the_digest_carries_the_checklist_summary_and_suggestion_and_skips_odd_shapes():
    from apps.intelligence.selectors import event_digest

    digest = event_digest([
        ("SCRIPT_ADHERENCE", {"score": 50, "categories": [{"criteria": [
            {"criteria_key": "greet", "criteria_met": "Succeeded", "reason": "phrases_found"},
            {"criteria_key": "", "criteria_met": "Failed"}, "junk"]}, "junk"]}),
        ("SUMMARY", {"text": "Card blocked.", "final": True}),
        ("NEXT_BEST_RESPONSE", {"text": "Offer a replacement.", "article": {"title": "Cards"}}),
        ("SENTIMENT", "not a dict"),
    ])  # fmt: skip

    assert digest["adherence"] == {"score": 50.0, "criteria": [{
        "key": "greet", "met": "Succeeded", "status": "Met", "colour": "success",
        "icon": "bi-check-circle-fill", "reason": "Required phrases said."}]}  # fmt: skip
    assert digest["summary"] == {"text": "Card blocked.", "final": True}
    assert digest["suggestion"]["text"] == "Offer a replacement."
    assert digest["suggestion"]["article_title"] == "Cards"
    assert "sentiment" not in digest


@pytest.fixture
def tasks_run_here():
    """Tasks run in the caller (Celery's eager mode), as a worker would run them. Set on the
    app's configuration itself, under the CELERY_ names it reads Django's settings by: Celery
    reads those settings once, so changing them after an earlier test published a task would
    not be seen."""
    from ccportal.celery import app

    keys = ("CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_EAGER_PROPAGATES")
    saved = {key: app.conf.get(key) for key in keys}
    app.conf.update(dict.fromkeys(keys, True))
    yield
    app.conf.update(saved)


def test_a_delivery_whose_enqueue_was_lost_is_sent_by_the_sweeper(
    defaults, world, receiver, tasks_run_here
):
    hook = receiver(200)
    rule = sentiment_rule(webhook_url=hook.url)
    # The test's transaction never commits, so the task was never queued: as with the broker
    # down at commit.
    delivery = WebhookDelivery.objects.get(execution_id=fire(rule, world.north_call))
    assert services.delivery_sweep() == {"requeued": 0, "failed": 0}  # too fresh to be lost

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        updated_at=timezone.now() - timedelta(minutes=3)
    )
    assert services.delivery_sweep() == {"requeued": 1, "failed": 0}

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(hook.requests)) == ("DELIVERED", 1, 1)
    assert services.delivery_sweep() == {"requeued": 0, "failed": 0}


def test_the_sweeper_leaves_a_delivery_in_its_retry_pause_and_fails_one_past_its_attempts(
    defaults, world, receiver
):
    hook = receiver(500)
    delivery = WebhookDelivery.objects.get(
        execution_id=fire(sentiment_rule(webhook_url=hook.url), world.north_call)
    )
    with pytest.raises(services.DeliveryRetry):
        services.webhook_deliver(delivery_id=delivery.pk)
    waiting = WebhookDelivery.objects.filter(pk=delivery.pk)
    waiting.update(updated_at=timezone.now() - timedelta(minutes=5))  # the task retries at 10
    assert services.delivery_sweep() == {"requeued": 0, "failed": 0}

    waiting.update(attempts=7, updated_at=timezone.now() - timedelta(minutes=20))
    assert services.delivery_sweep() == {"requeued": 0, "failed": 1}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "Gave up: no attempt succeeded."
