"""The lean entry point: webhook POSTs served in front of Django's middleware stack.

``LeanWebhooks(django_app)`` is the WSGI application (ccportal/wsgi.py). A POST to the
orchestrator, intelligence or voice-status URL is parsed by Django's own ``WSGIRequest``, its
Host checked against ALLOWED_HOSTS as CommonMiddleware would, and handed to
``ingest.receive`` with the group committer as its store: the same rules as the Django view,
without sessions, CSRF, auth, CSP, audit context, URL resolving and the response machinery,
which a webhook does not use and which cost about half of a request's time (docs/benchmarks.md).
Everything else, the relay action included (Twilio waits on its TwiML, computed through the ORM
on the request's connection), goes to Django unchanged.

The request thread never touches the database here: rows, refusals included, are written by
the group committer's thread, which keeps its own connection (WEBHOOK_GROUP_COMMIT=false: by the
request's thread, one row per statement, for comparison or as a fallback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections
from django.urls import reverse

from . import ingest, services
from .choices import Source
from .groupcommit import committer

logger = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

LEAN_ROUTES = {
    "webhook-orchestrator": Source.ORCHESTRATOR,
    "webhook-intelligence": Source.INTELLIGENCE,
    "webhook-voice-status": Source.VOICE_STATUS,
}


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def store_on_this_thread(**row: Any) -> services.Stored:
    """WEBHOOK_GROUP_COMMIT off: one INSERT on the request thread's own connection, looked after
    as Django's request signals would (a broken or too old connection is closed first)."""
    close_old_connections()
    try:
        return services.inbox_store(**row)
    finally:
        close_old_connections()


class LeanWebhooks:
    def __init__(self, app: WSGIApp, *, store: ingest.Store | None = None) -> None:
        self.app = app
        if store is None:
            store = committer().store if settings.WEBHOOK_GROUP_COMMIT else store_on_this_thread
        self.store = store
        # The paths come from the URLconf, so the two entry points cannot drift apart.
        self.routes = {reverse(name): source for name, source in LEAN_ROUTES.items()}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") == "POST":
            source = self.routes.get(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
            if source is not None:
                return self.serve(environ, start_response, source)
        return self.app(environ, start_response)

    def serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any], source: str
    ) -> list[bytes]:
        try:
            request = WSGIRequest(environ)
            request.get_host()  # DisallowedHost: 400, as Django's CommonMiddleware answers
            answer = ingest.receive(request, source, store=self.store)
        except DisallowedHost as exc:
            logger.warning("webhook refused: %s", exc)
            answer = ingest.Answer(400, b'{"error": "Bad Request."}')
        except Exception:
            logger.exception("webhook %s failed", source)
            answer = ingest.Answer(500, b'{"error": "Internal error."}')
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            *answer.headers.items(),
        ]
        start_response(_status_line(answer.status), headers)
        return [answer.body]
