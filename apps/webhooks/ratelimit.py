"""Slowing down a source that keeps failing the signature check, without a row per request.

One Redis counter per client address and window (``INCR`` + ``EXPIRE``): the first
WEBHOOK_SIGNATURE_FAILURE_LIMIT failures are stored as usual (size, hash and headers); after
that the source's unverified requests get 429 with Retry-After until the window ends, and
nothing is written. A request with a valid signature never looks at the counter, so Twilio
sharing an address with a noisy neighbour is never slowed down. With Redis unreachable the
limit fails open (requests are answered and stored as before) and says so in the log.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "ccportal:webhooks:sigfail:"
_clients: dict[str, redis.Redis] = {}
_down_until = 0.0


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    retry_after: int = 0


_OPEN = Verdict(False)


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)
        _clients[url] = client
    return client


def _key(source_ip: str) -> str:
    # An IPv6 client usually holds a whole /64: counted per /64, or it could rotate addresses.
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return KEY_PREFIX + (source_ip or "unknown")
    if address.version == 6:
        return KEY_PREFIX + str(ipaddress.ip_network(f"{address}/64", strict=False))
    return KEY_PREFIX + str(address)


def _unavailable(exc: Exception) -> Verdict:
    global _down_until
    if time.monotonic() >= _down_until:  # once per back-off period, not once per request
        logger.warning("signature-failure rate limit not applied, Redis unavailable: %s", exc)
    _down_until = time.monotonic() + 5
    return _OPEN


def _limit() -> int:
    return int(settings.WEBHOOK_SIGNATURE_FAILURE_LIMIT)


def blocked(source_ip: str) -> Verdict:
    """Whether the source is over its limit now (does not count anything)."""
    if _limit() <= 0 or time.monotonic() < _down_until:
        return _OPEN
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.get(_key(source_ip))
        pipe.ttl(_key(source_ip))
        count, ttl = pipe.execute()
    except redis.RedisError as exc:
        return _unavailable(exc)
    if count is not None and int(count) >= _limit():
        return Verdict(True, max(int(ttl), 1))
    return _OPEN


def failure_record(source_ip: str) -> Verdict:
    """Count one failure; ``blocked`` when it went over the limit (the request is not stored)."""
    limit = _limit()
    if limit <= 0 or time.monotonic() < _down_until:
        return _OPEN
    window = int(settings.WEBHOOK_SIGNATURE_FAILURE_WINDOW_SECONDS)
    key = _key(source_ip)
    try:
        pipe = _redis().pipeline(transaction=True)
        # The window starts at the first failure (SET NX rather than EXPIRE NX: Redis < 7).
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
    except redis.RedisError as exc:
        return _unavailable(exc)
    if count == limit + 1:
        logger.warning(
            "webhook signature failures from %s: %d within %d s; refusing its unverified "
            "requests with 429 for %d s",
            source_ip or "an unknown address",
            limit,
            window,
            ttl,
        )
    if count > limit:
        return Verdict(True, max(int(ttl), 1))
    return _OPEN


def reset(source_ip: str | None = None) -> None:
    """Forget the counters (one source, or all) and any Redis back-off; for tests and operators."""
    global _down_until
    _down_until = 0.0
    _clients.clear()
    client = _redis()
    try:
        if source_ip is not None:
            client.delete(_key(source_ip))
            return
        keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError as exc:
        logger.warning("could not reset the signature-failure counters: %s", exc)
