"""The idle timeout of a session: a session unused for SESSION_IDLE_TIMEOUT_SECONDS is signed
out on its next request, page or WebSocket.

Every request of a signed-in session stamps the time in the session, at most once a minute (a
session write a minute, not one a request as SESSION_SAVE_EVERY_REQUEST would cost). Requests a
page makes on its own, not because someone did something, say so with the header
``X-Ccportal-Background: 1`` (the live transcript's catch-up polls): they are checked but do not
count as activity, so a page left open does not keep its session alive. WebSocket connects are
checked (a stale session connects as nobody), open sockets are closed at their next scope check,
and socket traffic never counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse

LAST_SEEN = "_last_seen"
# The stamp is rewritten when it is at least this old: one session save a minute at most.
RESOLUTION_SECONDS = 60
BACKGROUND_HEADER = "X-Ccportal-Background"


def session_idle_expired(session: SessionBase, now: float) -> bool:
    """Whether this signed-in session has been unused for longer than the idle timeout."""
    timeout = settings.SESSION_IDLE_TIMEOUT_SECONDS
    if not timeout or SESSION_KEY not in session:
        return False
    last = session.get(LAST_SEEN)
    return isinstance(last, int | float) and now - last > timeout


def stamp_login(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """On user_logged_in: the idle clock starts at sign-in."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())


class SessionIdleTimeout:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if settings.SESSION_IDLE_TIMEOUT_SECONDS and SESSION_KEY in session:
            now = time.time()
            if session_idle_expired(session, now):
                minutes = max(1, round(settings.SESSION_IDLE_TIMEOUT_SECONDS / 60))
                logout(request)  # a new, empty session; request.user is anonymous now
                messages.info(
                    request,
                    f"You were signed out after {minutes} minutes without activity. "
                    "Sign in again to go on.",
                )
            else:
                last = session.get(LAST_SEEN)
                background = request.headers.get(BACKGROUND_HEADER) == "1"
                if not isinstance(last, int | float) or (
                    not background and now - last >= RESOLUTION_SECONDS
                ):
                    session[LAST_SEEN] = int(now)
        return self.get_response(request)


class WebsocketSessionIdleTimeout(BaseMiddleware):
    """For Channels, inside AuthMiddlewareStack: a socket opened with an idle-expired session
    is anonymous (the consumers then refuse it). Sockets already open are closed by their
    consumer's periodic scope check (``accounts.selectors.session_signs_in``)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        session = scope.get("session")
        if session is not None and await database_sync_to_async(session_idle_expired)(
            session, time.time()
        ):
            scope = {**scope, "user": AnonymousUser()}
        return await super().__call__(scope, receive, send)
