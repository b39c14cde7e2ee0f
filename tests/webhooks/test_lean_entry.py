"""The lean entry point (apps/webhooks/entry.py): webhook POSTs served in front of Django's
middleware by the same rules of ingest, their rows written by the group committer.

Requests go through the real WSGI application (ccportal/wsgi.py), as gunicorn or granian would
call it; the committer's thread keeps its own connection, so these tests commit for real.
"""

from __future__ import annotations

import copy
import io
import json
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from twilio.request_validator import RequestValidator

from apps.webhooks.choices import EventStatus
from apps.webhooks.entry import LeanWebhooks
from apps.webhooks.groupcommit import GroupCommitter, Pending
from apps.webhooks.models import InboundEvent
from apps.webhooks.services import InboxRow
from tests.fixtures.twilio import (
    AUTH_TOKEN,
    INTELLIGENCE,
    ORCHESTRATOR,
    RELAY_ACTION,
    VOICE_STATUS,
    fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def committer():
    writer = GroupCommitter()
    yield writer
    writer.stop()


@pytest.fixture
def app(committer):
    from ccportal.wsgi import django_application

    return LeanWebhooks(django_application, store=committer.store)


def call(app, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(headers)

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return seen["status"], seen["headers"], body


def environ_for(
    path: str, body: bytes, *, content_type: str, method: str = "POST", **headers: str
) -> dict[str, Any]:
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "203.0.113.9",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    environ.update(headers)
    return environ


def signed_json(
    path: str, payload: Any, *, idempotency_token: str = "", signature: str = "", **headers: str
) -> dict[str, Any]:
    from django.conf import settings

    body = json.dumps(payload)
    validator = RequestValidator(AUTH_TOKEN)
    path = f"{path}?{urlencode({'bodySHA256': validator.compute_hash(body)})}"
    headers["HTTP_X_TWILIO_SIGNATURE"] = signature or validator.compute_signature(
        settings.PUBLIC_BASE_URL + path, {}
    )
    if idempotency_token:
        headers["HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"] = idempotency_token
    return environ_for(path, body.encode(), content_type="application/json", **headers)


def signed_form(path: str, params: dict[str, str]) -> dict[str, Any]:
    from django.conf import settings

    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + path, params
    )
    return environ_for(
        path,
        urlencode(params).encode(),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def test_the_production_wsgi_application_is_the_lean_dispatcher():
    from ccportal.wsgi import application

    assert isinstance(application, LeanWebhooks)
    assert set(application.routes) == {ORCHESTRATOR, INTELLIGENCE, VOICE_STATUS}


def test_without_group_commit_each_request_stores_its_own_row(settings):
    from ccportal.wsgi import django_application

    settings.WEBHOOK_GROUP_COMMIT = False
    app = LeanWebhooks(django_application)
    payload = fixture("conversation_created")
    first = call(app, signed_json(ORCHESTRATOR, payload, idempotency_token="solo"))
    again = call(app, signed_json(ORCHESTRATOR, payload, idempotency_token="solo"))

    assert json.loads(first[2])["status"] == "accepted"
    assert json.loads(again[2])["status"] == "duplicate"
    assert InboundEvent.objects.filter(idempotency_key="token:solo").count() == 1


def test_signed_event_is_stored_pending_before_the_200(app, committer):
    status, headers, body = call(
        app, signed_json(ORCHESTRATOR, fixture("conversation_created"), idempotency_token="t-1")
    )

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    answer = json.loads(body)
    assert answer["status"] == "accepted"
    event = InboundEvent.objects.get(pk=answer["event"])
    assert event.status == EventStatus.PENDING
    assert event.signature_valid is True
    assert event.idempotency_key == "token:t-1"
    assert event.url.startswith("https://portal.example.com/webhooks/twilio/orchestrator?")
    assert json.loads(event.body) == fixture("conversation_created")
    assert committer.rows == 1


def test_form_encoded_voice_status_is_stored_through_the_lean_path(app):
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed", "AccountSid": "AC" + "0" * 32}
    status, _, body = call(app, signed_form(VOICE_STATUS, params))

    assert status == 200
    event = InboundEvent.objects.get(pk=json.loads(body)["event"])
    assert event.event_type == "CALL_COMPLETED"
    assert event.source == "voice_status"


def test_bad_signature_is_403_and_stored_without_its_body(app):
    environ = signed_json(
        ORCHESTRATOR, fixture("conversation_created"), signature="bm90IGEgc2lnbmF0dXJl"
    )
    status, _, body = call(app, environ)

    assert status == 403
    assert "Invalid Twilio signature" in json.loads(body)["error"]
    event = InboundEvent.objects.get()
    assert event.status == EventStatus.REJECTED
    assert event.signature_valid is False
    assert event.body == ""
    assert event.body_size > 0
    assert "203.0.113.9" in event.error


def test_client_address_of_a_refusal_follows_the_trusted_proxy_rule(app, settings):
    settings.TRUST_PROXY_HEADERS = True
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    environ = signed_json(
        ORCHESTRATOR,
        fixture("conversation_created"),
        signature="bm90IGEgc2lnbmF0dXJl",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 192.0.2.44",
    )
    environ["REMOTE_ADDR"] = "10.1.2.3"
    status, _, _ = call(app, environ)

    assert status == 403
    # The proxy is ours, the hop it saw is the client; what the client wrote before it is not.
    assert "(client 192.0.2.44)" in InboundEvent.objects.get().error


def test_duplicate_delivery_is_one_row_and_both_answered_200(app):
    payload = fixture("conversation_created")
    first = call(app, signed_json(ORCHESTRATOR, payload, idempotency_token="dup-1"))
    second = call(app, signed_json(ORCHESTRATOR, payload, idempotency_token="dup-1"))

    assert (first[0], second[0]) == (200, 200)
    assert json.loads(first[2])["status"] == "accepted"
    assert json.loads(second[2]) == {"status": "duplicate", "event": None}
    assert InboundEvent.objects.count() == 1


def test_concurrent_deliveries_with_one_key_store_one_row(app):
    payload = fixture("conversation_created")
    answers: list[tuple[int, dict[str, str], bytes]] = []
    start = threading.Barrier(12)

    def deliver(i: int) -> None:
        token = "same" if i % 2 else f"own-{i}"
        environ = signed_json(ORCHESTRATOR, payload, idempotency_token=token)
        start.wait()
        answers.append(call(app, environ))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(status for status, _, _ in answers) == [200] * 12
    statuses = [json.loads(body)["status"] for _, _, body in answers]
    assert statuses.count("accepted") == 7  # six own tokens and the first "same"
    assert statuses.count("duplicate") == 5
    assert InboundEvent.objects.count() == 7
    assert InboundEvent.objects.filter(idempotency_key="token:same").count() == 1


def test_disallowed_host_is_400_and_stores_nothing(app):
    environ = signed_json(ORCHESTRATOR, fixture("conversation_created"))
    environ["HTTP_HOST"] = "evil.example.net"
    status, _, _ = call(app, environ)

    assert status == 400
    assert InboundEvent.objects.count() == 0


def test_relay_action_and_other_requests_still_go_through_django(app):
    # The relay action computes its TwiML through the ORM: Django's view serves it.
    params = {"CallSid": "CA" + "2" * 32, "SessionId": "VX1", "SessionStatus": "ended"}
    status, headers, _ = call(app, signed_form(RELAY_ACTION, params))
    assert status == 200
    assert headers["Content-Type"].startswith("text/xml")
    # A GET to a webhook URL is Django's 405, not the lean path's.
    status, _, _ = call(app, environ_for(ORCHESTRATOR, b"", content_type="", method="GET"))
    assert status == 405
    status, _, _ = call(app, environ_for("/healthz", b"", content_type="", method="GET"))
    assert status == 200


@pytest.fixture
def database_unreachable():
    """PostgreSQL unreachable until the test calls the function this yields."""
    saved = copy.deepcopy(connection.settings_dict)

    def close() -> None:
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()

    close()
    connection.settings_dict["HOST"] = "127.0.0.1"
    connection.settings_dict["PORT"] = "1"  # nothing listens here
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        pool["timeout"] = 1

    def back() -> None:
        close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

    yield back
    back()


def test_database_down_answers_503_and_the_retry_is_stored_once_it_is_back(
    app, database_unreachable
):
    payload = fixture("conversation_created")
    status, _, body = call(app, signed_json(ORCHESTRATOR, payload, idempotency_token="r-1"))
    assert status == 503
    assert "retry" in json.loads(body)["error"]

    database_unreachable()  # the writer reconnects for its next batch
    status, _, body = call(app, signed_json(ORCHESTRATOR, payload, idempotency_token="r-1"))
    assert status == 200
    assert json.loads(body)["status"] == "accepted"
    assert InboundEvent.objects.filter(idempotency_key="token:r-1").count() == 1


def pending(key: str | None, *, source: str = "orchestrator", status: str = "pending") -> Pending:
    row: InboxRow = {
        "source": source,
        "key": key,
        "event_type": "COMMUNICATION_CREATED",
        "account_sid": "AC" + "0" * 32,
        "url": "https://portal.example.com/webhooks/twilio/orchestrator",
        "headers": {"Content-Type": "application/json"},
        "content_type": "application/json",
        "body": "{}",
        "body_size": 2,
        "body_sha256": "",
        "signature_valid": True,
        "status": status,
        "error": "",
        "wake": False,
    }
    return Pending(row)


def test_one_batch_with_a_duplicate_inside_stores_one_row_and_answers_both(committer):
    InboundEvent.objects.create(
        source="orchestrator",
        idempotency_key="token:old",
        signature_valid=True,
        received_at="2026-12-01T00:00:00Z",
        available_at="2026-12-01T00:00:00Z",
    )
    batch = [
        pending("token:a"),
        pending("token:a"),  # the same delivery twice in one batch
        pending("token:a", source="intelligence"),  # another source: its own key space
        pending("token:old"),  # stored by an earlier batch
        pending(None, status=EventStatus.REJECTED),  # a refusal, without key
    ]
    committer.write(batch)

    first, again, other_source, old, refusal = (p.result for p in batch)
    assert first is not None and not first.duplicate and first.event_id
    assert again is not None and again.duplicate and again.event_id is None
    assert other_source is not None and not other_source.duplicate
    assert old is not None and old.duplicate
    assert refusal is not None and refusal.event_id
    assert InboundEvent.objects.filter(idempotency_key="token:a").count() == 2
    assert InboundEvent.objects.count() == 4
    assert committer.batches == 1


# ---- parity with the Django path: headers, logging, TLS redirect -----------------------------

SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
    "Strict-Transport-Security",
)


def _security(headers: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {name: headers.get(name) for name in SECURITY_HEADERS}
    # The CSP's directives come out in set order: compare them as a set.
    csp = headers.get("Content-Security-Policy")
    found["Content-Security-Policy"] = set(csp.split("; ")) if csp else None
    return found


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_answers_carry_the_security_headers_of_the_django_path(committer, settings, scheme):
    from django.core.handlers.wsgi import WSGIHandler

    settings.SECURE_HSTS_SECONDS = 3600  # HSTS over TLS only, as SecurityMiddleware sends it
    django_application = WSGIHandler()  # its middlewares read the settings as they start
    app = LeanWebhooks(django_application, store=committer.store)
    payload = fixture("conversation_created")
    answers = {}
    for name, served_by in (("lean", app), ("django", django_application)):
        environ = signed_json(ORCHESTRATOR, payload, idempotency_token=f"h-{name}")
        environ["wsgi.url_scheme"] = scheme
        answers[name] = call(served_by, environ)

    assert answers["lean"][0] == answers["django"][0] == 200
    lean, django = _security(answers["lean"][1]), _security(answers["django"][1])
    assert lean == django
    assert lean["X-Content-Type-Options"] == "nosniff"
    assert lean["X-Frame-Options"] == "DENY"
    assert (lean["Strict-Transport-Security"] is not None) == (scheme == "https")


def test_a_refusal_carries_the_security_headers_too(app):
    environ = signed_json(ORCHESTRATOR, fixture("conversation_created"), signature="forged")
    status, headers, _ = call(app, environ)

    assert status == 403
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_4xx_is_logged_on_django_request_as_the_django_path_logs_it(app, caplog):
    from ccportal.wsgi import django_application

    logged = {}
    for name, served_by in (("lean", app), ("django", django_application)):
        caplog.clear()
        with caplog.at_level("WARNING", logger="django.request"):
            status, _, _ = call(
                served_by,
                signed_json(ORCHESTRATOR, fixture("conversation_created"), signature="forged"),
            )
        assert status == 403
        logged[name] = [
            (r.levelname, r.getMessage(), getattr(r, "status_code", None))
            for r in caplog.records
            if r.name == "django.request"
        ]

    assert logged["lean"] == [("WARNING", f"Forbidden: {ORCHESTRATOR}", 403)]
    assert logged["lean"] == logged["django"]


def test_a_2xx_is_not_logged_on_django_request(app, caplog):
    with caplog.at_level("INFO", logger="django.request"):
        status, _, _ = call(app, signed_json(ORCHESTRATOR, fixture("conversation_created")))
    assert status == 200
    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_plain_http_is_redirected_when_tls_is_required_and_nothing_is_stored(committer, settings):
    from django.core.handlers.wsgi import WSGIHandler

    settings.SECURE_SSL_REDIRECT = True
    django_application = WSGIHandler()  # its middlewares read the settings as they start
    app = LeanWebhooks(django_application, store=committer.store)
    payload = fixture("conversation_created")

    status, headers, _ = call(app, signed_json(ORCHESTRATOR, payload, idempotency_token="p-1"))
    assert status == 301
    assert headers["Location"].startswith("https://")
    assert not InboundEvent.objects.filter(idempotency_key="token:p-1").exists()

    environ = signed_json(ORCHESTRATOR, payload, idempotency_token="p-2")
    environ["wsgi.url_scheme"] = "https"
    status, _, _ = call(app, environ)
    assert status == 200
    assert InboundEvent.objects.filter(idempotency_key="token:p-2").count() == 1


# ---- the writer hands the wake-up to its waker thread -----------------------------------------


def test_a_batch_that_stored_a_pending_row_wakes_the_workers_after_its_commit(committer):
    from apps.webhooks import services

    services.INGEST_WAKER.reset()
    row = dict(pending("token:wake-1").row, wake=True)
    refusal = dict(pending(None, status=EventStatus.REJECTED).row, wake=True)

    committer.store(**refusal)  # not pending: no wake-up
    committer.stop()  # the waker thread has done all it was asked
    assert committer.wakes == 0

    stored = committer.store(**row)
    committer.stop()
    assert stored.event_id is not None
    assert InboundEvent.objects.filter(pk=stored.event_id, status="pending").exists()
    assert committer.wakes == 1


def test_the_batches_committed_during_the_wake_interval_share_one_wake_up(monkeypatch):
    from apps.webhooks import services

    woken: list[str] = []
    monkeypatch.setattr(services, "wake_workers", lambda: woken.append("wake"))
    committer = GroupCommitter(wake_interval=0.02)
    in_interval, go_on = threading.Event(), threading.Event()

    def pause(seconds: float) -> None:  # the interval lasts until the test says so
        assert seconds == 0.02
        in_interval.set()
        go_on.wait(10)

    committer._sleep = pause
    try:
        committer.store(**dict(pending("token:interval-1").row, wake=True))
        assert in_interval.wait(10)
        assert woken == ["wake"]  # the first batch's wake-up, at once
        committer.store(**dict(pending("token:interval-2").row, wake=True))
        committer.store(**dict(pending("token:interval-3").row, wake=True))
        assert woken == ["wake"]  # committed and answered; their wake-up waits for the interval
        go_on.set()
    finally:
        go_on.set()
        committer.stop()
    assert committer.batches == 3
    assert woken == ["wake", "wake"]  # one more, after the interval, for both
    assert InboundEvent.objects.filter(status="pending").count() == 3
