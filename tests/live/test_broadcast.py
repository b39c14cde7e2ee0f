"""A batch of numbered events reaches the groups someone listens to, in order, and costs no
send for the groups nobody listens to (most conversations have no page open).

Over the real Redis channel layer, as the workers use it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.live import broadcast as live_broadcast
from apps.live.broadcast import broadcast_many


def _group() -> str:
    return f"test-broadcast-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sent_to(monkeypatch) -> list[str]:
    """The groups ``group_send`` is called for, in order (the layer still sends)."""
    layer = get_channel_layer()
    calls: list[str] = []
    original = layer.group_send

    async def group_send(group: str, message: dict[str, Any]) -> None:
        calls.append(group)
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)
    return calls


def _wait(future) -> None:
    assert future is not None
    future.result(timeout=10)


def test_a_listened_group_gets_its_events_in_order_and_silent_groups_get_no_send(sent_to):
    layer = get_channel_layer()
    watched, quiet = _group(), _group()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(watched, channel)

    _wait(
        broadcast_many([
            (watched, "insights", {"n": 1}, 7, 1),
            (quiet, "insights", {"n": 2}, 3, 1),
            (watched, "insights", {"n": 3}, 8, 1),
        ])
    )  # fmt: skip

    async def receive_two() -> list[dict[str, Any]]:
        return [await layer.receive(channel), await layer.receive(channel)]

    received = async_to_sync(receive_two)()
    assert [(m["payload"]["n"], m["seq"], m["epoch"]) for m in received] == [(1, 7, 1), (3, 8, 1)]
    assert all(m["type"] == "live.event" and m["event"] == "insights" for m in received)
    assert sent_to == [watched, watched]


def test_a_member_past_the_group_expiry_counts_as_nobody(sent_to):
    layer = get_channel_layer()
    group = _group()
    channel = async_to_sync(layer.new_channel)()

    async def join_long_ago() -> None:  # as group_add does, with a time past group_expiry
        connection = layer.connection(layer.consistent_hash(group))
        stale = int(time.time()) - layer.group_expiry - 10
        await connection.zadd(layer._group_key(group), {channel: stale})

    async_to_sync(join_long_ago)()
    _wait(broadcast_many([(group, "insights", {}, 1, 1)]))

    assert sent_to == []


def test_on_a_layer_without_group_lookups_every_event_is_sent(monkeypatch):
    class Layer:
        def __init__(self) -> None:
            self.sent: list[tuple[str, int]] = []

        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            self.sent.append((group, message["seq"]))

    layer = Layer()
    monkeypatch.setattr(live_broadcast, "get_channel_layer", lambda: layer)

    _wait(broadcast_many([("a", "insights", {}, 1, 1), ("b", "insights", {}, 1, 1)]))

    assert layer.sent == [("a", 1), ("b", 1)]


def test_nothing_to_send_sends_nothing():
    assert broadcast_many([]) is None
