"""Waking workers for a database-backed queue without a broker message per item.

The rows in PostgreSQL are the queue (inbox events, rule executions). After a commit that adds
work, ``Waker.wake()`` sets a short-lived Redis flag with ``SET NX``; only the call that sets it
publishes one Celery message, whose task clears the flag and drains every pending row. So a
burst of a thousand rows costs a thousand cheap ``SET NX`` calls and a handful of messages,
not a thousand publishes (~2-5 ms each). If Redis or the broker is down, the rows wait for the
beat sweeper; ``wake()`` never raises.
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings

from .tasks import task as task_at

logger = logging.getLogger(__name__)

HELD = "held"  # the flag's value while a drain holds it (a published wake-up sets "1")


class Waker:
    def __init__(self, *, key: str, ttl_ms: int, task: str, what: str) -> None:
        self.key = key
        self.ttl_ms = ttl_ms
        self.task = task  # the drain task's dotted path (``apps.common.tasks``)
        self.what = what
        self._client: redis.Redis | None = None
        self._down_until = 0.0

    def _redis(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5
            )
        return self._client

    def wake(self) -> None:
        """Ask for a drain unless one is already due."""
        if time.monotonic() < self._down_until:
            return
        try:
            if self._redis().set(self.key, "1", nx=True, px=self.ttl_ms):
                task_at(self.task).apply_async(retry=False)
        except Exception as exc:  # Redis or the broker unreachable: the sweeper is the net
            self._down_until = time.monotonic() + 5
            logger.warning("could not wake the %s (%s); the sweeper will", self.what, exc)

    def hold(self) -> None:
        """Set the flag without publishing: a drain that will claim again soon says so, and the
        commits meanwhile publish no wake-up (their rows are in its next claim). The drain must
        ``clear()`` before that claim; if it dies first, the flag expires after ``ttl_ms`` and
        the sweeper wakes a drain."""
        try:
            self._redis().set(self.key, HELD, px=self.ttl_ms)
        except Exception as exc:  # then the commits publish wake-ups as usual: only dearer
            logger.warning("could not hold the %s wake flag: %s", self.what, exc)

    def held(self) -> bool:
        """Whether a drain holds the flag (it will claim again): a sweeper leaves it alone."""
        try:
            return self._redis().get(self.key) == HELD.encode()
        except Exception as exc:
            logger.warning("could not read the %s wake flag: %s", self.what, exc)
            return False

    def clear(self) -> None:
        """Called by a drain as it starts: work added from now on publishes a new wake-up."""
        try:
            self._redis().delete(self.key)
        except Exception as exc:
            logger.warning("could not clear the %s wake flag: %s", self.what, exc)

    def reset(self) -> None:
        """Forget the connection and any back-off (settings changed, e.g. in tests)."""
        self._client = None
        self._down_until = 0.0
