"""Twilio webhook endpoints: verify, store, acknowledge. Processing happens in Celery.

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
from typing import Any

from django.conf import settings
from django.db import DatabaseError, DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

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


def _error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _headers(request: HttpRequest) -> dict[str, str]:
    return {
        k: v
        for k, v in request.headers.items()
        if k in _KEEP_HEADERS or not _SECRET_HEADER.search(k)
    }


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
    request: HttpRequest,
    source: str,
    *,
    status: int,
    message: str,
    body: str,
) -> JsonResponse:
    """Refuse a request whose signature was valid but whose content is not (kept whole)."""
    body = _storable(body)
    services.inbox_store(
        source=source,
        key=None,
        event_type="",
        account_sid="",
        url=public_url(request),
        headers=_headers(request),
        content_type=request.content_type or "",
        body=body,
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
    *,
    status: int,
    message: str,
    raw: bytes | None,
    signature_failed: bool = False,
) -> JsonResponse:
    """Refuse a request not known to come from Twilio: no body stored, and a source past its
    signature failures gets 429 with nothing stored at all."""
    source_ip = client_ip(request)
    limit = (
        ratelimit.failure_record(source_ip) if signature_failed else ratelimit.blocked(source_ip)
    )
    if limit.blocked:
        response = _error(
            429,
            "Too many requests with an invalid Twilio signature from this address; "
            f"retry in {limit.retry_after} s.",
        )
        response["Retry-After"] = str(limit.retry_after)
        return response
    declared = request.META.get("CONTENT_LENGTH") or ""
    services.inbox_store(
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


def _receive(request: HttpRequest, source: str) -> HttpResponse:
    if _too_large(request):
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        return _refuse_unverified(
            request, source, status=413, message=f"Body larger than {limit} bytes.", raw=None
        )
    raw = request.body
    if len(raw) > settings.WEBHOOK_MAX_BODY_BYTES:
        return _refuse_unverified(request, source, status=413, message="Body too large.", raw=raw)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _refuse_unverified(
            request, source, status=400, message="Body is not UTF-8.", raw=raw
        )
    is_json = source in services.JSON_SOURCES
    form = None if is_json else request.POST
    verdict = verify(request, body=body if is_json else None, form=form)
    if not verdict.valid:
        return _refuse_unverified(
            request,
            source,
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
                request,
                source,
                status=400,
                message=f"Malformed JSON: {exc}.",
                body=body,
            )
        if not isinstance(payload, dict):
            return _reject(
                request,
                source,
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
    stored = services.inbox_store(
        source=source,
        key=key,
        event_type=_event_type(source, payload),
        account_sid=account_sid,
        url=public_url(request),
        headers=_headers(request),
        content_type=request.content_type or "",
        body=_storable(body),
        body_size=len(raw),
        body_sha256=hashlib.sha256(raw).hexdigest(),
        signature_valid=True,
        status=EventStatus.PROCESSING if synchronous else EventStatus.PENDING,
    )
    if synchronous:
        return _relay_answer(stored, payload)
    return JsonResponse(
        {"status": "duplicate" if stored.duplicate else "accepted", "event": stored.event_id}
    )


def _relay_answer(stored: services.Stored, params: dict[str, Any]) -> HttpResponse:
    """Twilio waits for the TwiML of a <Connect action>: apply it now (idempotently) and answer."""
    try:
        outcome, twiml = relay.respond(params)
    except (PayloadError, DataError) as exc:
        # Nothing to act on (no CallSid, a value no column holds): the fallback, no alarm.
        logger.warning("relay action not applicable, answering the fallback: %s", exc)
        if stored.event_id:
            services.inbox_event_settle(
                event_id=stored.event_id, status=EventStatus.FAILED, error=str(exc)
            )
        return HttpResponse(relay.fallback_twiml(params), content_type="text/xml")
    except Exception as exc:  # the caller must still reach a human
        logger.exception("relay action failed; answering the fallback")
        if stored.event_id:
            services.inbox_event_settle(
                event_id=stored.event_id, status=EventStatus.FAILED, error=str(exc)
            )
        return HttpResponse(relay.fallback_twiml(params), content_type="text/xml")
    if stored.event_id:
        services.inbox_event_settle(
            event_id=stored.event_id, status=outcome.status, result=outcome.detail
        )
    return HttpResponse(twiml, content_type="text/xml")


def _endpoint(source: str):  # type: ignore[no-untyped-def]
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        try:
            return _receive(request, source)
        except DatabaseError as exc:
            logger.error("webhook %s not stored, database unavailable: %s", source, exc)
            return _error(503, "Temporarily unable to store the event; please retry.")

    view.__name__ = f"{source}_webhook"
    return view


orchestrator_events = _endpoint(Source.ORCHESTRATOR)
intelligence_results = _endpoint(Source.INTELLIGENCE)
relay_action = _endpoint(Source.RELAY_ACTION)
voice_status = _endpoint(Source.VOICE_STATUS)
