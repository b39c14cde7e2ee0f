"""The rules of ingest, whatever serves the request: verify, store, acknowledge.

``receive(request, source, store=...)`` is the one place that decides what a delivery gets;
the Django view (apps/webhooks/views.py) and the lean WSGI entry point (apps/webhooks/entry.py)
both call it and only turn its ``Answer`` into their own kind of response. ``request`` is a plain
Django ``HttpRequest`` (the lean path builds a ``WSGIRequest`` from the environ): its parsing of
headers, body, form and host is reused, not the middleware stack. ``store`` writes one inbox row
(``services.inbox_store`` on the request's own connection, or the group committer's ``store``,
which writes the rows of concurrent requests in one statement); both answer only once the row
is durable.

Answers: 2xx once stored (duplicates too); 403 bad signature; 400 malformed; 413 too large;
503 when the database is unreachable, so Twilio retries. Never a 2xx for something not stored.
429 (Retry-After) for a client address past its signature failures (ratelimit.py), not stored.

A request refused before its signature was found valid (403, 413, a body that is not UTF-8) is
kept as size, SHA-256 and headers only: anyone may have sent it, with anyone's data in it. One
with a valid signature but bad content came from Twilio and is kept whole, for investigation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, Unpack

from django.conf import settings
from django.db import DatabaseError, DataError
from django.http import HttpRequest
from django.http.request import HttpHeaders

from apps.common.clientip import client_ip

from . import ratelimit, services
from .choices import EventStatus, Source
from .handlers import orchestrator, relay
from .parsing import PayloadError
from .signature import public_url, verify

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"
# Credentials never belong in the inbox, whoever sent them.
_SECRET_HEADER = re.compile(
    r"cookie|authorization|authentication|secret|password|passwd|api[-_]?key|session|token",
    re.IGNORECASE,
)
_KEEP_HEADERS = {"I-Twilio-Idempotency-Token"}  # Twilio's delivery id, no credential
JSON_CONTENT = "application/json"


class Store(Protocol):
    """Writes one inbox row and returns once it is durable (``services.inbox_store``, or the
    group committer's ``store``); the row is ``services.InboxRow``, as keyword arguments."""

    def __call__(self, **row: Unpack[services.InboxRow]) -> services.Stored: ...


@dataclass(frozen=True)
class Answer:
    """What to send back, for any transport to write out."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: dict[str, Any], **headers: str) -> Answer:
    return Answer(status, json.dumps(payload).encode(), JSON_CONTENT, headers)


def _error(status: int, message: str, **headers: str) -> Answer:
    return _json(status, {"error": message}, **headers)


@lru_cache(maxsize=512)
def _kept_name(meta_key: str) -> str | None:
    """The header name of a request.META key if the inbox keeps that header, else None (not a
    header, or a credential); the same names as ``request.headers``, worked out once per key."""
    name = HttpHeaders.parse_header_name(meta_key)
    if name is None or (name not in _KEEP_HEADERS and _SECRET_HEADER.search(name)):
        return None
    return name


def _headers(request: HttpRequest) -> dict[str, str]:
    kept = {}
    for key, value in request.META.items():
        name = _kept_name(key)
        if name is not None:
            kept[name] = value
    return kept


def _event_type(source: str, payload: Any) -> str:
    if source == Source.ORCHESTRATOR:
        return orchestrator.event_type_of(payload)
    if source == Source.INTELLIGENCE:
        return "RULE_EXECUTION"
    if source == Source.RELAY_ACTION:
        return f"SESSION_{str(payload.get('SessionStatus', '')).upper()}"
    return f"CALL_{str(payload.get('CallStatus', '')).upper()}"


def _storable(body: str) -> str:
    # PostgreSQL text cannot hold NUL; keep everything else of what was sent.
    return body.replace("\x00", "\ufffd") if "\x00" in body else body


def _reject(
    request: HttpRequest, source: str, store: Store, *, status: int, message: str, body: str
) -> Answer:
    """Refuse a request whose signature was valid but whose content is not (kept whole)."""
    store(
        source=source,
        key=None,
        event_type="",
        account_sid="",
        url=public_url(request),
        headers=_headers(request),
        content_type=request.content_type or "",
        body=_storable(body),
        body_size=len(request.body),
        body_sha256=hashlib.sha256(request.body).hexdigest(),
        signature_valid=True,
        status=EventStatus.REJECTED,
        error=message,
        wake=False,
    )
    return _error(status, message)


def _refuse_unverified(
    request: HttpRequest,
    source: str,
    store: Store,
    *,
    status: int,
    message: str,
    raw: bytes | None,
    signature_failed: bool = False,
) -> Answer:
    """Refuse a request not known to come from Twilio: no body stored, and a source past its
    signature failures gets 429 with nothing stored at all."""
    source_ip = client_ip(request)
    limit = (
        ratelimit.failure_record(source_ip) if signature_failed else ratelimit.blocked(source_ip)
    )
    if limit.blocked:
        return _error(
            429,
            "Too many requests with an invalid Twilio signature from this address; "
            f"retry in {limit.retry_after} s.",
            **{"Retry-After": str(limit.retry_after)},
        )
    declared = request.META.get("CONTENT_LENGTH") or ""
    store(
        source=source,
        key=None,
        event_type="",
        account_sid="",
        url=public_url(request),
        headers=_headers(request),
        content_type=request.content_type or "",
        body="",
        body_size=len(raw) if raw is not None else int(declared) if declared.isdigit() else 0,
        body_sha256="" if raw is None else hashlib.sha256(raw).hexdigest(),
        signature_valid=False,
        status=EventStatus.REJECTED,
        error=f"{message} (client {source_ip or 'unknown'})",
        wake=False,
    )
    return _error(status, message)


def _too_large(request: HttpRequest) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > settings.WEBHOOK_MAX_BODY_BYTES
    except ValueError:
        return False


def receive(request: HttpRequest, source: str, *, store: Store = services.inbox_store) -> Answer:
    """Everything a delivery gets, from the size check to the answer; 503 if not stored."""
    try:
        return _receive(request, source, store)
    except DatabaseError as exc:
        logger.error("webhook %s not stored, database unavailable: %s", source, exc)
        return _error(503, "Temporarily unable to store the event; please retry.")


def _receive(request: HttpRequest, source: str, store: Store) -> Answer:
    if _too_large(request):
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        return _refuse_unverified(
            request, source, store, status=413, message=f"Body larger than {limit} bytes.", raw=None
        )
    raw = request.body
    if len(raw) > settings.WEBHOOK_MAX_BODY_BYTES:
        return _refuse_unverified(
            request, source, store, status=413, message="Body too large.", raw=raw
        )
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _refuse_unverified(
            request, source, store, status=400, message="Body is not UTF-8.", raw=raw
        )
    body_sha256 = hashlib.sha256(raw).hexdigest()
    is_json = source in services.JSON_SOURCES
    form = None if is_json else request.POST
    verdict = verify(request, body=body if is_json else None, form=form, body_sha256=body_sha256)
    if not verdict.valid:
        return _refuse_unverified(
            request,
            source,
            store,
            status=403,
            message=f"Invalid Twilio signature: {verdict.reason}.",
            raw=raw,
            signature_failed=True,
        )
    if is_json:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return _reject(
                request, source, store, status=400, message=f"Malformed JSON: {exc}.", body=body
            )
        if not isinstance(payload, dict):
            return _reject(
                request,
                source,
                store,
                status=400,
                message="JSON body must be an object.",
                body=body,
            )
    else:
        payload = form.dict() if form is not None else {}
        if not (request.content_type or "").startswith("application/x-www-form-urlencoded"):
            # Twilio posts urlencoded; keep anything else in the form processing can read back.
            body = form.urlencode() if form is not None else ""
    account_sid = str(payload.get("accountId") or payload.get("AccountSid") or verdict.account_sid)
    key = services.idempotency_key(
        source=source, token=request.META.get(IDEMPOTENCY_HEADER, ""), payload=payload
    )
    synchronous = source == Source.RELAY_ACTION
    stored = store(
        source=source,
        key=key,
        event_type=_event_type(source, payload),
        account_sid=account_sid,
        url=public_url(request),
        headers=_headers(request),
        content_type=request.content_type or "",
        body=_storable(body),
        body_size=len(raw),
        body_sha256=body_sha256,
        signature_valid=True,
        status=EventStatus.PROCESSING if synchronous else EventStatus.PENDING,
    )
    if synchronous:
        return _relay_answer(stored, payload)
    return _json(
        200, {"status": "duplicate" if stored.duplicate else "accepted", "event": stored.event_id}
    )


def _relay_answer(stored: services.Stored, params: dict[str, Any]) -> Answer:
    """Twilio waits for the TwiML of a <Connect action>: apply it now (idempotently) and answer.
    It reads and writes through the ORM on the request's connection, so only the Django view
    serves this source (apps/webhooks/entry.py routes the other three)."""
    try:
        outcome, twiml = relay.respond(params)
    except (PayloadError, DataError) as exc:
        # Nothing to act on (no CallSid, a value no column holds): the fallback, no alarm.
        logger.warning("relay action not applicable, answering the fallback: %s", exc)
        if stored.event_id:
            services.inbox_event_settle(
                event_id=stored.event_id, status=EventStatus.FAILED, error=str(exc)
            )
        return _twiml(relay.fallback_twiml(params))
    except Exception as exc:  # the caller must still reach a human
        logger.exception("relay action failed; answering the fallback")
        if stored.event_id:
            services.inbox_event_settle(
                event_id=stored.event_id, status=EventStatus.FAILED, error=str(exc)
            )
        return _twiml(relay.fallback_twiml(params))
    if stored.event_id:
        services.inbox_event_settle(
            event_id=stored.event_id, status=outcome.status, result=outcome.detail
        )
    return _twiml(twiml)


def _twiml(twiml: str) -> Answer:
    return Answer(200, twiml.encode(), "text/xml")
