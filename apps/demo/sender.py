"""Posting signed requests to a running portal over one keep-alive connection (the simulator's)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .simulator import SignedRequest

TIMEOUT_SECONDS = 10.0


class SimulatorError(Exception):
    """The run cannot go on; the message says what to do about it."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class Retryable(Exception):
    """Worth sending again: the connection failed (it is closed; the next post reconnects)."""


class Sender:
    """One keep-alive connection to the portal, used by one thread at a time."""

    def __init__(self, base_url: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulatorError(f"Not an http(s) URL: {base_url!r}")
        self.base_url = base_url
        self._connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._netloc = parts.netloc
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def post(self, request: SignedRequest) -> Answer:
        parts = urlsplit(request.url)
        target = f"{parts.path}?{parts.query}"
        if self._connection is None:
            self._connection = self._connection_class(self._netloc, timeout=self._timeout)
        try:
            self._connection.request("POST", target, body=request.body, headers=request.headers)
            ack_quickly(self._connection.sock)
            response = self._connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            # Includes a keep-alive connection the server closed meanwhile: reconnect and retry.
            self.close()
            raise Retryable(f"{exc.__class__.__name__}: {exc}") from exc
        if response.will_close:
            self.close()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"error": raw[:200].decode("utf-8", "replace")}
        return Answer(response.status, body if isinstance(body, dict) else {})

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def ack_quickly(sock: socket.socket | None) -> None:
    """Acknowledge the response's first packet at once (Linux only; elsewhere a no-op).

    Servers that write the headers and the body of a response separately (Django's own
    server does) stall on a kept-alive connection: Nagle holds the body back until the headers
    are acknowledged, and delayed ACK holds the acknowledgement back for up to 40 ms. Quick ACK
    is not sticky, so it is asked for again before every response.
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if sock is not None and quickack is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
