"""Live updates: services name a group and an event; browsers in that group get it after commit.

Group names come from ``apps.live.groups``, one group per scope (a conversation, a team's
floor, a user). Payloads are small and JSON round-trippable. A broadcast that fails (Redis
down) is logged and dropped: the data is in PostgreSQL, and a conversation's events are also
stored and numbered (``apps.live.streams``), so its pages ask for what they missed. Imports no
app.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

logger = logging.getLogger(__name__)


_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a daemon thread, that sends the broadcasts.

    ``async_to_sync`` per broadcast would cost a new loop and a Redis connection each time
    (~5 ms); a worker broadcasting after every rule execution cannot afford that. Created
    lazily and again after a fork (Celery's prefork children).
    """
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-broadcast", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def _log_failure(future: Future[Any]) -> None:
    error = future.exception()
    if error is not None:  # the channel layer is down: nobody will miss a live nudge
        logger.warning("live broadcast failed: %r", error)


def broadcast(
    group: str,
    event: str,
    payload: dict[str, Any],
    *,
    seq: int | None = None,
    epoch: int | None = None,
) -> Future[Any] | None:
    """Send now, without waiting; returns the future (tests wait on it). ``seq`` and ``epoch``
    number a conversation's stored events (``apps.live.streams``)."""
    layer = get_channel_layer()
    if layer is None:
        return None
    message: dict[str, Any] = {"type": "live.event", "event": event, "payload": payload}
    if seq is not None:
        message |= {"seq": seq, "epoch": epoch}
    future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _background_loop())
    future.add_done_callback(_log_failure)
    return future


Numbered = tuple[str, str, dict[str, Any], int, int]  # group, event, payload, seq, epoch


def broadcast_many(messages: Sequence[Numbered]) -> Future[Any] | None:
    """``broadcast`` for a batch of numbered events, sent in order by one coroutine (one
    hand-over to the sending thread, not one per message).

    Most conversations have nobody watching: on the Redis channel layer the batch first asks
    which of its groups have members, all in one pipelined round trip (``_groups_with_members``),
    and sends only to those, in order. ``group_send`` asked two questions per message whoever
    listened (a fifth of an operators process's CPU went to that thread). A socket that joins
    in between misses the event, as it would have between ``group_send``'s read of the group
    and its send: the page catches up by the events' numbers."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return None

    async def send_all() -> None:
        listened = await _groups_with_members(layer, {message[0] for message in messages})
        for group, event, payload, seq, epoch in messages:
            if listened is None or group in listened:
                message = {"type": "live.event", "event": event, "payload": payload}
                await layer.group_send(group, message | {"seq": seq, "epoch": epoch})

    future = asyncio.run_coroutine_threadsafe(send_all(), _background_loop())
    future.add_done_callback(_log_failure)
    return future


async def _groups_with_members(layer: Any, groups: set[str]) -> set[str] | None:
    """The groups among ``groups`` with at least one live member, on ``RedisChannelLayer``:
    one pipelined ``ZCOUNT`` per group and Redis host, counting the members ``group_send``
    would keep (those that joined within ``group_expiry``). None on any other layer (send to
    every group)."""
    if not isinstance(layer, RedisChannelLayer):
        return None
    by_host: dict[int, list[str]] = {}
    for group in groups:
        by_host.setdefault(layer.consistent_hash(group), []).append(group)
    oldest = int(time.time()) - layer.group_expiry  # group_send drops members up to this score
    found: set[str] = set()
    for index, names in by_host.items():
        pipe = layer.connection(index).pipeline(transaction=False)
        for group in names:
            pipe.zcount(layer._group_key(group), f"({oldest}", "+inf")
        counts = await pipe.execute()
        found.update(group for group, count in zip(names, counts, strict=True) if count)
    return found


def broadcast_on_commit(group: str, event: str, payload: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` once the surrounding transaction commits (now if none)."""
    transaction.on_commit(lambda: broadcast(group, event, payload))
