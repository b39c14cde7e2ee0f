"""The idle timeout: a session unused for SESSION_IDLE_TIMEOUT_SECONDS is signed out on its next
request (page, API or WebSocket); activity is noted at most once a minute; a page's own
background polls are not activity."""

from __future__ import annotations

import time

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from apps.accounts.middleware import BACKGROUND_HEADER, LAST_SEEN
from apps.live.consumers import CLOSE_FORBIDDEN
from ccportal.asgi import application

pytestmark = pytest.mark.django_db

PAGE = "/notifications/"


def last_seen_ago(client: Client, seconds: float) -> None:
    session = client.session
    session[LAST_SEEN] = int(time.time() - seconds)
    session.save()


def stamp(client: Client) -> int:
    return client.session[LAST_SEEN]


def test_a_session_idle_longer_than_the_timeout_is_signed_out_with_a_message(world, client_for):
    client = client_for(world.agent_user)
    assert client.get(PAGE).status_code == 200
    last_seen_ago(client, settings.SESSION_IDLE_TIMEOUT_SECONDS + 5)
    response = client.get(PAGE, follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("login"))
    assert "signed out after 30 minutes without activity" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_session_used_within_the_timeout_stays_signed_in(world, client_for):
    client = client_for(world.agent_user)
    client.get(PAGE)
    last_seen_ago(client, settings.SESSION_IDLE_TIMEOUT_SECONDS - 60)
    assert client.get(PAGE).status_code == 200
    assert time.time() - stamp(client) < 5  # the activity moved the clock on


def test_activity_is_written_at_most_once_a_minute(world, client_for):
    client = client_for(world.agent_user)
    client.get(PAGE)
    last_seen_ago(client, 30)
    before = stamp(client)
    client.get(PAGE)
    assert stamp(client) == before  # no session write for a request within the minute
    last_seen_ago(client, 61)
    client.get(PAGE)
    assert stamp(client) > before


def test_background_polls_do_not_keep_a_session_alive_but_are_signed_out(world, client_for):
    client = client_for(world.agent_user)
    client.get(PAGE)
    events = f"/api/conversations/{world.north_call.pk}/events/"
    last_seen_ago(client, 600)
    before = stamp(client)
    assert client.get(events, headers={BACKGROUND_HEADER: "1"}).status_code == 200
    assert stamp(client) == before
    last_seen_ago(client, settings.SESSION_IDLE_TIMEOUT_SECONDS + 5)
    assert client.get(events, headers={BACKGROUND_HEADER: "1"}).status_code == 403
    assert SESSION_KEY not in client.session


def test_a_zero_timeout_turns_it_off(world, client_for, settings):
    client = client_for(world.agent_user)
    client.get(PAGE)
    last_seen_ago(client, 10 * 24 * 3600)
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 0
    assert client.get(PAGE).status_code == 200


def _cookie(client: Client) -> bytes:
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_with_an_idle_session_is_refused_and_a_fresh_one_joins(world):
    from asgiref.sync import sync_to_async

    def signed_in(idle: float) -> bytes:
        client = Client()
        client.force_login(world.agent_user)
        last_seen_ago(client, idle)
        return _cookie(client)

    for idle, joins in ((60, True), (settings.SESSION_IDLE_TIMEOUT_SECONDS + 5, False)):
        cookie = await sync_to_async(signed_in)(idle)
        socket = WebsocketCommunicator(
            application,
            "/ws/notifications/",
            headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
        )
        connected, _ = await socket.connect()
        if joins:
            assert connected and await socket.receive_nothing(timeout=0.2)
        else:
            assert (await socket.receive_output(timeout=5))["code"] == CLOSE_FORBIDDEN
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_closes_once_its_session_is_signed_out_or_idle(world, settings):
    from asgiref.sync import sync_to_async

    settings.LIVE_SCOPE_RECHECK_SECONDS = 0.2

    def signed_in() -> Client:
        client = Client()
        client.force_login(world.agent_user)
        return client

    signed_out, idle = await sync_to_async(signed_in)(), await sync_to_async(signed_in)()
    sockets = []
    for client in (signed_out, idle):
        socket = WebsocketCommunicator(
            application,
            "/ws/notifications/",
            headers=[(b"origin", b"http://localhost"), (b"cookie", _cookie(client))],
        )
        assert (await socket.connect())[0]
        sockets.append(socket)
    await sync_to_async(signed_out.post)(reverse("logout"))
    await sync_to_async(last_seen_ago)(idle, settings.SESSION_IDLE_TIMEOUT_SECONDS + 5)
    for socket in sockets:
        assert (await socket.receive_output(timeout=5))["code"] == CLOSE_FORBIDDEN
        await socket.disconnect()
