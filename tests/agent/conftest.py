from __future__ import annotations

import json
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from twilio.request_validator import RequestValidator

from apps.common import embeddings
from apps.knowledge.services import knowledge_seed
from ccportal.asgi import application
from tests.fixtures.twilio import AUTH_TOKEN

KNOWLEDGE = Path(__file__).resolve().parents[2] / "apps" / "demo" / "data" / "knowledge.json"
SOCKET_PATH = "/ws/agent/relay/"
BASE = "https://portal.example.com"


@pytest.fixture(autouse=True, scope="session")
def embedding_model_loaded():
    """The model is loaded once per process, as in the portal; a test's socket is then not
    closed (after its one second) while the first setup loads it."""
    embeddings.available()


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKENS = [f"AC00000000000000000000000000000000:{AUTH_TOKEN}"]
    settings.PUBLIC_BASE_URL = BASE
    settings.HANDOFF_WORKFLOW_SID = "WW0123456789abcdef0123456789abcdef"
    settings.VIRTUAL_AGENT_TOKEN_PACE_MS = 0
    settings.VIRTUAL_AGENT_KNOWLEDGE_SECONDS = 0  # each test seeds its own articles


@pytest.fixture
def knowledge(db) -> int:
    return knowledge_seed(articles=json.loads(KNOWLEDGE.read_text())["articles"])


def relay_socket(
    *, token: str | None = AUTH_TOKEN, path: str = SOCKET_PATH
) -> WebsocketCommunicator:
    """A socket opened as Twilio opens it: the wss URL signed, no Origin, no cookie."""
    headers = []
    if token is not None:
        url = "wss://portal.example.com" + path
        headers.append(
            (b"x-twilio-signature", RequestValidator(token).compute_signature(url, {}).encode())
        )
    return WebsocketCommunicator(application, path, headers=headers)


def setup_message(call_sid: str = "CA" + "1" * 32, session_id: str = "VX" + "1" * 32) -> dict:
    return {
        "type": "setup",
        "sessionId": session_id,
        "accountSid": "AC00000000000000000000000000000000",
        "callSid": call_sid,
        "from": "+15551230000",
        "to": "+18005550100",
        "direction": "inbound",
        "callType": "PSTN",
        "callStatus": "RINGING",
        "customParameters": {},
    }


async def reply_of(
    communicator: WebsocketCommunicator, timeout: float = 5
) -> tuple[str, list[dict]]:
    """The text tokens of one reply up to ``last``, and every message received."""
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        messages.append(message)
        if message["type"] == "text" and message["last"]:
            return "".join(m["token"] for m in messages if m["type"] == "text"), messages
