"""Rule webhooks reach only public https addresses, checked when saved and when sent."""

from __future__ import annotations

import socket

import pytest

from apps.common import outbound
from apps.common.errors import ValidationFailed
from apps.intelligence import services
from apps.intelligence.choices import DeliveryStatus
from apps.intelligence.models import WebhookDelivery
from tests.intelligence.test_actions import fire, sentiment_rule
from tests.intelligence.test_definitions import classifier, rule_data

pytestmark = pytest.mark.django_db

SECRET = "a-shared-secret-for-the-hook"


@pytest.fixture
def strict(settings):
    """The production defaults (the package's conftest allows local receivers)."""
    settings.OUTBOUND_ALLOW_HTTP = False
    settings.OUTBOUND_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/in", "Only https://"),
        ("https://127.0.0.1/in", "loopback"),
        ("https://localhost:8443/in", "loopback"),
        ("https://[::1]/in", "loopback"),
        ("https://10.1.2.3/in", "private"),
        ("https://172.16.0.9/in", "private"),
        ("https://192.168.1.1/in", "private"),
        ("https://100.64.0.1/in", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fe80::1]/in", "link-local"),
        ("https://[fd00::1]/in", "private"),
        ("https://224.0.0.1/in", "multicast"),
        ("https://0.0.0.0/in", "unspecified"),
        ("https://240.0.0.1/in", "reserved"),
        ("https://[::ffff:169.254.169.254]/in", "link-local"),
        ("https://[64:ff9b::a00:1]/in", "private"),
        ("https://user:pw@hooks.example.com/in", "user name or password"),
    ],
)
def test_a_rule_webhook_to_a_non_public_or_plain_http_address_cannot_be_saved(
    world, strict, url, why
):
    with pytest.raises(ValidationFailed) as refused:
        services.rule_create(
            user=world.admin,
            data=rule_data(classifier(world.admin), webhook_url=url, webhook_secret=SECRET),
        )
    assert why in refused.value.errors["webhook_url"][0]


def test_a_public_https_webhook_is_saved_and_an_unresolvable_name_waits_for_send_time(
    world, strict
):
    rule = services.rule_create(
        user=world.admin,
        data=rule_data(
            classifier(world.admin),
            webhook_url="https://93.184.215.14/in",
            webhook_secret=SECRET,
        ),
    )
    assert rule.webhook_secret == SECRET
    outbound.url_check("https://no-such-host.invalid/in")  # checked again when sent


def test_a_rule_with_a_webhook_needs_a_secret_of_enough_length(world, settings):
    settings.INTELLIGENCE_WEBHOOK_SECRET = ""
    op = classifier(world.admin)
    for secret, message in ((None, "needs a secret"), ("short", "At least 16")):
        with pytest.raises(ValidationFailed) as refused:
            services.rule_create(
                user=world.admin,
                data=rule_data(op, webhook_url="https://93.184.215.14/in", webhook_secret=secret),
            )
        assert message in refused.value.errors["webhook_secret"][0]
    rule = services.rule_create(
        user=world.admin,
        data=rule_data(op, webhook_url="https://93.184.215.14/in", webhook_secret=SECRET),
    )
    # Saved again without a secret: the stored one is kept (it is never shown to be resent).
    updated = services.rule_update(user=world.admin, rule=rule, data=services.rule_input(rule))
    assert updated.webhook_secret == SECRET


def test_the_connection_goes_to_the_address_checked_with_the_name_as_host(
    defaults,
    world,
    receiver,
    monkeypatch,
):
    hook = receiver(200)
    port = hook.server.server_address[1]
    looked_up = []

    def resolver(host, *args, **kwargs):  # the DNS: the one thing outside us faked here
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    rule = sentiment_rule(webhook_url=f"http://hooks.customer.test:{port}/in")
    delivery = WebhookDelivery.objects.get(execution_id=fire(rule, world.north_call))
    assert services.webhook_deliver(delivery_id=delivery.pk) == DeliveryStatus.DELIVERED
    headers, _ = hook.requests[0]
    assert headers["Host"] == f"hooks.customer.test:{port}"
    # The name is resolved once, for the check; the connection is made to the checked address.
    assert looked_up == ["hooks.customer.test", "127.0.0.1"]


def test_a_name_rebound_to_a_metadata_address_after_saving_is_not_sent_to(
    defaults, world, settings, monkeypatch
):
    rule = sentiment_rule(webhook_url="https://hooks.customer.test/in")
    delivery = WebhookDelivery.objects.get(execution_id=fire(rule, world.north_call))
    settings.OUTBOUND_ALLOW_PRIVATE = False
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))],
    )
    assert services.webhook_deliver(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "link-local" in delivery.last_error and delivery.last_error.startswith("Not sent")


def test_redirects_are_answers_not_followed(defaults, world, receiver):
    hook = receiver(302)
    rule = sentiment_rule(webhook_url=hook.url)
    delivery = WebhookDelivery.objects.get(execution_id=fire(rule, world.north_call))
    with pytest.raises(services.DeliveryRetry):
        services.webhook_deliver(delivery_id=delivery.pk)
    assert len(hook.requests) == 1
    delivery.refresh_from_db()
    assert delivery.response_status == 302


def test_a_legacy_rule_without_any_secret_is_not_sent(defaults, world, settings, receiver):
    settings.INTELLIGENCE_WEBHOOK_SECRET = ""
    hook = receiver(200)
    rule = sentiment_rule(webhook_url=hook.url, webhook_secret="")
    delivery = WebhookDelivery.objects.get(execution_id=fire(rule, world.north_call))
    assert services.webhook_deliver(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    assert hook.requests == []
