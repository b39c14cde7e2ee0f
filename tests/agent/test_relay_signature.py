"""The relay socket's X-Twilio-Signature accepts the URL forms the HTTP webhooks accept:
PUBLIC_BASE_URL's, and behind a trusted proxy the upgrade's own host (with and without the
port, the proxy's X-Forwarded-Proto), and still refuses unsigned or wrongly signed upgrades."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from twilio.request_validator import RequestValidator

from apps.webhooks.signature import verify_websocket
from ccportal.asgi import application
from tests.fixtures.twilio import AUTH_TOKEN

from .conftest import SOCKET_PATH


def _signed(url: str, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, {})


@pytest.fixture
def behind_proxy(settings):
    """TRUST_PROXY_HEADERS=true, as compose.yaml's nginx sets it; another public name."""
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["portal.example.com", "agent.example.net"]


def _verify(url_signed: str, headers: dict[bytes, bytes], *, scheme: str = "ws") -> bool:
    return verify_websocket(
        path=SOCKET_PATH,
        query_string="",
        signature=_signed(url_signed),
        headers=headers,
        scheme=scheme,
    ).valid


def test_the_public_base_url_form_is_accepted_with_and_without_its_port():
    assert _verify("wss://portal.example.com/ws/agent/relay/", {})
    assert _verify("wss://portal.example.com:443/ws/agent/relay/", {})
    assert not _verify("wss://portal.example.com:8443/ws/agent/relay/", {})
    assert not _verify("ws://portal.example.com/ws/agent/relay/", {})


def test_behind_the_proxy_the_forwarded_host_and_proto_are_accepted(behind_proxy):
    forwarded = {b"host": b"127.0.0.1:8000", b"x-forwarded-host": b"agent.example.net",
                 b"x-forwarded-proto": b"https"}  # fmt: skip
    assert _verify("wss://agent.example.net/ws/agent/relay/", forwarded)
    assert _verify("wss://agent.example.net:443/ws/agent/relay/", forwarded)
    # The proxy said https: the plain ws:// form of the same host is not what Twilio signed.
    assert not _verify("ws://agent.example.net/ws/agent/relay/", forwarded)
    with_port = {b"host": b"agent.example.net:8443", b"x-forwarded-proto": b"https"}
    assert _verify("wss://agent.example.net:8443/ws/agent/relay/", with_port)


def test_the_upgrade_host_is_accepted_without_public_base_url(settings):
    settings.PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = ["agent.example.net"]
    assert _verify(
        "ws://agent.example.net:8111/ws/agent/relay/", {b"host": b"agent.example.net:8111"}
    )
    assert _verify(
        "wss://agent.example.net/ws/agent/relay/", {b"host": b"agent.example.net"}, scheme="wss"
    )


def test_a_host_outside_allowed_hosts_or_without_trust_is_not_a_candidate(behind_proxy, settings):
    forged = {b"host": b"evil.example.org", b"x-forwarded-proto": b"https"}
    assert not _verify("wss://evil.example.org/ws/agent/relay/", forged)
    settings.USE_X_FORWARDED_HOST = False  # proxy headers not trusted: PUBLIC_BASE_URL only
    plain = {b"host": b"agent.example.net", b"x-forwarded-proto": b"https"}
    assert not _verify("wss://agent.example.net/ws/agent/relay/", plain)
    assert _verify("wss://portal.example.com/ws/agent/relay/", plain)


def test_unsigned_and_wrongly_signed_upgrades_are_refused(behind_proxy):
    headers = {b"host": b"agent.example.net", b"x-forwarded-proto": b"https"}
    unsigned = verify_websocket(
        path=SOCKET_PATH, query_string="", signature="", headers=headers, scheme="ws"
    )
    assert not unsigned.valid and "missing" in unsigned.reason
    wrong = verify_websocket(
        path=SOCKET_PATH,
        query_string="",
        signature=RequestValidator("f" * 32).compute_signature(
            "wss://agent.example.net/ws/agent/relay/", {}
        ),
        headers=headers,
        scheme="ws",
    )
    assert not wrong.valid


@pytest.mark.django_db(transaction=True)
async def test_the_socket_behind_the_proxy_opens_with_the_forwarded_url_signed(
    behind_proxy, knowledge
):
    url = "wss://agent.example.net" + SOCKET_PATH
    headers = [(b"host", b"agent.example.net"), (b"x-forwarded-proto", b"https")]
    good = WebsocketCommunicator(
        application, SOCKET_PATH, headers=[*headers, (b"x-twilio-signature", _signed(url).encode())]
    )
    connected, _ = await good.connect()
    assert connected
    await good.disconnect()
    bad = WebsocketCommunicator(
        application,
        SOCKET_PATH,
        headers=[*headers, (b"x-twilio-signature", _signed(url, "f" * 32).encode())],
    )
    connected, _ = await bad.connect()
    assert not connected
