"""The lean entry point: webhook POSTs served in front of Django's middleware stack.

``LeanWebhooks(django_app)`` is the WSGI application (ccportal/wsgi.py). A POST to the
orchestrator, intelligence or voice-status URL is parsed by Django's own ``WSGIRequest``, its
Host checked against ALLOWED_HOSTS as CommonMiddleware would, and handed to
``ingest.receive`` with the group committer as its store: the same rules as the Django view,
without sessions, CSRF, auth, CSP, audit context, URL resolving and the response machinery,
which a webhook does not use and which cost about half of a request's time (docs/benchmarks.md).
The answers carry the headers Django's header-setting middlewares would add (nosniff,
Referrer-Policy, Cross-Origin-Opener-Policy, HSTS over TLS, X-Frame-Options, the CSP), worked out
by those middlewares at start-up; a 4xx or 5xx is logged on django.request as Django's handler
logs it; plain HTTP where SECURE_SSL_REDIRECT asks for TLS goes to Django, which redirects it.
Everything else, the relay action included (Twilio waits on its TwiML, computed through the ORM
on the request's connection), goes to Django unchanged.

The request thread never touches the database here: rows, refusals included, are written by
the group committer's thread, which keeps its own connection (WEBHOOK_GROUP_COMMIT=false: by the
request's thread, one row per statement, for comparison or as a fallback).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.log import log_response
from django.utils.module_loading import import_string

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


# The middlewares of settings.MIDDLEWARE that set headers on every answer whatever the view:
# their headers are worked out by the middlewares themselves (security_headers) and added here.
HEADER_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
)


class _Probe(HttpRequest):
    def __init__(self, path: str, *, secure: bool) -> None:
        super().__init__()
        self.path = self.path_info = path
        self._secure = secure

    def is_secure(self) -> bool:
        return self._secure


def _never_called(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the probe runs process_response only")


def security_headers(path: str, *, secure: bool) -> tuple[tuple[str, str], ...]:
    """The headers Django's header-setting middlewares (nosniff, Referrer-Policy,
    Cross-Origin-Opener-Policy, HSTS over TLS, X-Frame-Options, the CSP) put on a JSON answer
    to ``path``, by running their ``process_response`` once: the values follow the settings."""
    request = _Probe(path, secure=secure)
    response = HttpResponse(content_type=ingest.JSON_CONTENT)
    before = set(response.headers)
    for dotted in HEADER_MIDDLEWARE:
        if dotted in settings.MIDDLEWARE:
            middleware = import_string(dotted)(_never_called)  # only process_response runs
            response = middleware.process_response(request, response)
    return tuple((name, value) for name, value in response.items() if name not in before)


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
        # Plain HTTP where SECURE_SSL_REDIRECT asks for TLS goes to Django, which redirects it as
        # SecurityMiddleware does for any page: a signed body is not taken over plain HTTP.
        self.redirect_http = {
            path: settings.SECURE_SSL_REDIRECT
            and not any(
                re.search(exempt, path.lstrip("/")) for exempt in settings.SECURE_REDIRECT_EXEMPT
            )
            for path in self.routes
        }
        self.headers = {
            (path, secure): security_headers(path, secure=secure)
            for path in self.routes
            for secure in (False, True)
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") == "POST":
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            source = self.routes.get(path)
            if source is not None:
                request = WSGIRequest(environ)
                if self.redirect_http[path] and not _is_secure(request):
                    return self.app(environ, start_response)
                return self.serve(request, start_response, source, path)
        return self.app(environ, start_response)

    def serve(
        self,
        request: WSGIRequest,
        start_response: Callable[..., Any],
        source: str,
        path: str,
    ) -> list[bytes]:
        try:
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
            *self.headers[(path, _is_secure(request))],
        ]
        if answer.status >= 400:
            # As Django's handler logs it (django.request: a warning for 4xx, an error for 5xx).
            response = HttpResponse(status=answer.status)
            log_response("%s: %s", response.reason_phrase, path, response=response, request=request)
        start_response(_status_line(answer.status), headers)
        return [answer.body]


def _is_secure(request: HttpRequest) -> bool:
    try:
        return request.is_secure()  # SECURE_PROXY_SSL_HEADER, as SecurityMiddleware reads it
    except Exception:  # a setting that cannot be read: as plain HTTP, never a 500
        return False
