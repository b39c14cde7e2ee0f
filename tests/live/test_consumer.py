"""The conversation socket: who may listen, and what they hear after a rule ran.

Through the whole ASGI stack (origin check, session auth, routing) and the real Redis channel
layer; events are sent the way services send them, with ``apps.live.broadcast.broadcast``.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from apps.live.broadcast import broadcast
from apps.live.consumers import CLOSE_FORBIDDEN
from apps.live.groups import conversation_group
from ccportal.asgi import application

# The consumer reads the database from a worker thread: the test's rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


@pytest.fixture
def cookies(world) -> dict[str, bytes]:
    """Session cookies per persona, made before the test's event loop runs."""
    personas = ("admin", "supervisor", "agent_user", "other_agent_user", "outsider")
    return {name: _cookie(getattr(world, name)) for name in personas}


def socket(conversation_id: int, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(
        application, f"/ws/conversations/{conversation_id}/", headers=headers
    )


async def send_insights(conversation_id: int, **payload) -> dict:
    body = {"conversation": conversation_id, "rule": 1, "execution": 2, "operators": ["sentiment"]}
    body |= {"flag": None} | payload
    future = broadcast(conversation_group(conversation_id), "insights", body)
    assert future is not None
    await asyncio.wrap_future(future)
    return body


@pytest.mark.parametrize("persona", ["admin", "supervisor", "agent_user"])
async def test_a_user_who_may_see_the_conversation_receives_its_insights_events(
    world, cookies, persona
):
    conversation = world.north_call
    communicator = socket(conversation.pk, cookies[persona])
    connected, _ = await communicator.connect()
    assert connected

    sent = await send_insights(conversation.pk, flag=7)

    assert await communicator.receive_json_from(timeout=5) == {"event": "insights", "payload": sent}
    await communicator.disconnect()


@pytest.mark.parametrize("persona", ["outsider", "other_agent_user", None])
async def test_anyone_else_is_closed_with_4403_and_hears_nothing(world, cookies, persona):
    conversation = world.north_call
    communicator = socket(conversation.pk, cookies[persona] if persona else None)

    connected, _ = await communicator.connect()
    closed = await communicator.receive_output(timeout=5)
    await send_insights(conversation.pk)

    assert connected  # accepted only to say why: the browser then sees the code, not a 1006
    assert closed == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()  # not left to the event loop's teardown (docs/live.md)


async def test_a_conversation_that_does_not_exist_is_refused(cookies):
    communicator = socket(999_999_999, cookies["admin"])

    await communicator.connect()

    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CLOSE_FORBIDDEN,
    }
    await communicator.disconnect()


async def test_events_stay_within_their_conversation(world, cookies):
    north = socket(world.north_call.pk, cookies["admin"])
    south = socket(world.south_call.pk, cookies["admin"])
    assert (await north.connect())[0] and (await south.connect())[0]

    sent = await send_insights(world.south_call.pk)

    assert await south.receive_json_from(timeout=5) == {"event": "insights", "payload": sent}
    assert await north.receive_nothing(timeout=0.3)
    await north.disconnect()
    await south.disconnect()


async def members(group: str) -> int:
    """How many channels the Redis layer holds in ``group`` (channels_redis keeps a sorted set)."""
    layer = get_channel_layer()
    client = redis.asyncio.from_url(settings.REDIS_URL)
    try:
        return await client.zcard(layer._group_key(group))
    finally:
        await client.aclose()


async def test_a_socket_joins_its_group_on_connect_and_leaves_it_on_close(world, cookies):
    group = conversation_group(world.north_call.pk)
    communicator = socket(world.north_call.pk, cookies["supervisor"])
    before = await members(group)

    assert (await communicator.connect())[0]
    joined = await members(group)
    await communicator.disconnect()

    assert joined == before + 1
    assert await members(group) == before


async def test_what_the_browser_sends_is_ignored(world, cookies):
    communicator = socket(world.north_call.pk, cookies["agent_user"])
    assert (await communicator.connect())[0]

    await communicator.send_json_to({"type": "subscribe", "conversation": world.south_call.pk})

    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


def test_a_consumer_waiting_for_messages_outlasts_the_layers_wait():
    # BZPOPMIN blocks for brpop_timeout; a read timeout no longer than that dropped idle sockets
    # under load (redis-py 8 reads with 5 s by default, the same as the wait).
    layer = get_channel_layer()
    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host["socket_timeout"] > layer.brpop_timeout


async def test_a_socket_is_closed_when_its_user_may_no_longer_see_the_conversation(
    world, cookies, settings
):
    from asgiref.sync import sync_to_async

    settings.LIVE_SCOPE_RECHECK_SECONDS = 0.2
    moved = socket(world.north_call.pk, cookies["supervisor"])
    stays = socket(world.north_call.pk, cookies["admin"])
    assert (await moved.connect())[0] and (await stays.connect())[0]

    # The supervisor moves from North to South while the page is open.
    await sync_to_async(world.supervisor.teams.set)([world.south])

    assert await moved.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CLOSE_FORBIDDEN,
    }
    sent = await send_insights(world.north_call.pk)
    assert await stays.receive_json_from(timeout=5) == {"event": "insights", "payload": sent}
    await stays.disconnect()
    await moved.disconnect()
