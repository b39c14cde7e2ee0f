"""What the inbox keeps of refused requests, and how a source failing signatures is slowed."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.utils import timezone

from apps.common.clientip import client_ip
from apps.webhooks import tasks
from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db

SECRET_TEXT = "my card is 4111 1111 1111 1111 and mail me at nora@example.com"


def forged(client, payload=None, **extra):
    payload = payload or fixture("communication_created", content={"text": SECRET_TEXT})
    return post_json(client, ORCHESTRATOR, payload, signature="bm90IGl0", **extra)


# --- what is kept ---------------------------------------------------------------------------


def test_a_request_failing_the_signature_is_kept_as_size_hash_and_headers_only(twilio):
    payload = fixture("communication_created", content={"text": SECRET_TEXT})
    body = json.dumps(payload)
    response = post_json(
        twilio,
        ORCHESTRATOR,
        payload,
        signature="bm90IGl0",
        HTTP_COOKIE="sessionid=abc",
        HTTP_AUTHORIZATION="Bearer xyz",
        HTTP_X_API_KEY="k-123",
        HTTP_X_CUSTOM="kept",
    )
    assert response.status_code == 403
    event = InboundEvent.objects.get()
    assert (event.status, event.signature_valid, event.body) == ("rejected", False, "")
    assert event.body_size == len(body.encode())
    assert event.body_sha256 == hashlib.sha256(body.encode()).hexdigest()
    stored = json.dumps(event.headers)
    assert "4111" not in stored and "nora@" not in stored
    assert not {"Cookie", "Authorization", "X-Api-Key"} & set(event.headers)
    assert event.headers["X-Custom"] == "kept"
    assert "X-Twilio-Signature" in event.headers


def test_a_body_that_is_not_utf8_is_kept_without_it(twilio):
    data = b"\xff\xfe card 4111111111111111"
    response = twilio.post(f"{ORCHESTRATOR}?bodySHA256=x", data=data, content_type="text/plain")
    assert response.status_code == 400
    event = InboundEvent.objects.get()
    assert (event.body, event.signature_valid, event.body_size) == ("", False, len(data))
    assert event.body_sha256 == hashlib.sha256(data).hexdigest()


def test_malformed_json_with_a_valid_signature_keeps_its_body(twilio):
    body = '{"eventType": "CONVERSATION_CREATED", '
    response = post_json(twilio, ORCHESTRATOR, None, body=body)
    assert response.status_code == 400
    event = InboundEvent.objects.get()
    assert (event.body, event.signature_valid) == (body, True)
    assert event.body_sha256 == hashlib.sha256(body.encode()).hexdigest()


def test_accepted_events_keep_idempotency_token_but_no_credentials(twilio):
    post_json(
        twilio,
        ORCHESTRATOR,
        fixture("conversation_created"),
        idempotency_token="idem-1",
        HTTP_AUTHORIZATION="Basic Zm9v",
    )
    event = InboundEvent.objects.get()
    assert event.headers["I-Twilio-Idempotency-Token"] == "idem-1"
    assert "Authorization" not in event.headers


def test_purge_rejected_deletes_unsigned_rejections_past_retention_and_runs_twice(twilio, settings):
    settings.WEBHOOK_REJECTED_RETENTION_DAYS = 7
    forged(twilio)  # old, unsigned: goes
    post_json(twilio, ORCHESTRATOR, None, body="{")  # old, signed but malformed: stays
    InboundEvent.objects.update(received_at=timezone.now() - timedelta(days=8))
    forged(twilio)  # recent: stays
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))  # not rejected: stays

    assert tasks.purge_rejected() == 1
    assert tasks.purge_rejected() == 0
    left = sorted(InboundEvent.objects.values_list("status", "signature_valid"))
    assert left == [("pending", True), ("rejected", False), ("rejected", True)]


def test_purge_rejected_with_zero_retention_keeps_them(twilio, settings):
    settings.WEBHOOK_REJECTED_RETENTION_DAYS = 0
    forged(twilio)
    InboundEvent.objects.update(received_at=timezone.now() - timedelta(days=3650))
    assert tasks.purge_rejected() == 0
    assert InboundEvent.objects.count() == 1


def test_purge_rejected_is_on_a_crontab_beat():
    from ccportal.celery import app

    entry = app.conf.beat_schedule["purge-rejected-webhooks"]
    assert entry["task"] == "apps.webhooks.tasks.purge_rejected"
    assert isinstance(entry["schedule"], crontab)


# --- rate limit -----------------------------------------------------------------------------


@pytest.fixture
def limit(settings):
    settings.WEBHOOK_SIGNATURE_FAILURE_LIMIT = 3
    settings.WEBHOOK_SIGNATURE_FAILURE_WINDOW_SECONDS = 120


def test_a_source_past_its_signature_failures_gets_429_and_no_more_rows(twilio, limit, caplog):
    with caplog.at_level(logging.WARNING, logger="apps.webhooks.ratelimit"):
        assert [forged(twilio).status_code for _ in range(3)] == [403, 403, 403]
        blocked = [forged(twilio) for _ in range(5)]
    assert {r.status_code for r in blocked} == {429}
    assert 0 < int(blocked[0]["Retry-After"]) <= 120
    assert InboundEvent.objects.count() == 3
    assert sum("signature failures from 127.0.0.1" in r.message for r in caplog.records) == 1


def test_valid_requests_from_a_limited_source_are_still_taken(twilio, limit):
    for _ in range(4):
        forged(twilio)
    assert forged(twilio).status_code == 429
    response = post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert response.status_code == 200
    # Unverifiable requests (not UTF-8) from the limited source are refused without a row too.
    garbage = twilio.post(ORCHESTRATOR, data=b"\xff", content_type="application/json")
    assert garbage.status_code == 429
    assert InboundEvent.objects.filter(signature_valid=True).count() == 1
    assert InboundEvent.objects.filter(signature_valid=False).count() == 3


def test_other_sources_are_not_limited_by_one_noisy_source(twilio, limit):
    for _ in range(4):
        forged(twilio)
    assert forged(twilio, REMOTE_ADDR="198.51.100.4").status_code == 403


def test_ipv6_sources_are_counted_per_64(twilio, limit):
    codes = [forged(twilio, REMOTE_ADDR=f"2001:db8:1:2::{n}").status_code for n in range(1, 6)]
    assert codes == [403, 403, 403, 429, 429]
    assert forged(twilio, REMOTE_ADDR="2001:db8:1:3::1").status_code == 403


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_counted(twilio, limit, settings):
    settings.TRUST_PROXY_HEADERS = True
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # The attacker writes a different left-most hop each time; the proxy appends what it saw.
    codes = [
        forged(
            twilio, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 203.0.113.9"
        ).status_code
        for n in range(5)
    ]
    assert codes == [403, 403, 403, 429, 429]
    assert "client 203.0.113.9" in InboundEvent.objects.first().error


def test_redis_down_fails_open_and_logs(twilio, limit, settings, caplog):
    from apps.webhooks import ratelimit

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    ratelimit._clients.clear()
    with caplog.at_level(logging.WARNING, logger="apps.webhooks.ratelimit"):
        codes = [forged(twilio).status_code for _ in range(5)]
    assert codes == [403] * 5
    assert InboundEvent.objects.count() == 5
    assert any("Redis unavailable" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("trust", "peer", "forwarded", "expected"),
    [
        (False, "203.0.113.5", "1.2.3.4", "203.0.113.5"),  # header ignored when not trusted
        (True, "203.0.113.5", "1.2.3.4", "203.0.113.5"),  # peer is not our proxy
        (True, "10.0.0.2", "1.2.3.4, 198.51.100.7", "198.51.100.7"),
        (True, "10.0.0.2", "198.51.100.7, 10.0.0.9", "198.51.100.7"),  # two proxies
        (True, "10.0.0.2", "not-an-ip, 10.0.0.9", "10.0.0.9"),
        (True, "10.0.0.2", "", "10.0.0.2"),
        (True, "10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
    ],
)
def test_client_ip_reads_forwarded_for_only_through_trusted_proxies(
    settings, trust, peer, forwarded, expected
):
    settings.TRUST_PROXY_HEADERS = trust
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


# --- who sees raw bodies ----------------------------------------------------------------------


def _staff(user, *perms):
    user.is_staff = True
    user.save()
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def test_admin_shows_raw_bodies_only_with_the_dedicated_permission(twilio, world, client_for):
    post_json(twilio, ORCHESTRATOR, fixture("communication_created", content={"text": "hush"}))
    event = InboundEvent.objects.get()
    page = f"/admin/webhooks/inboundevent/{event.pk}/change/"

    viewer = client_for(_staff(world.supervisor, "view_inboundevent"))
    response = viewer.get(page)
    assert response.status_code == 200
    assert b"hush" not in response.content and b"X-Twilio-Signature" not in response.content
    listed = viewer.get("/admin/webhooks/inboundevent/?q=hush")
    assert b"0 results" in listed.content or f"/{event.pk}/change/".encode() not in listed.content

    raw = client_for(_staff(world.qa_analyst, "view_inboundevent", "view_raw_body"))
    assert b"hush" in raw.get(page).content

    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    assert b"hush" in client_for(world.admin).get(page).content
