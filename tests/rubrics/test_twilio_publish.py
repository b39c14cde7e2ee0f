"""Publishing a version's script to Twilio, against a local stand-in for the Intelligence API."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apps.rubrics.imports import rubric_import
from apps.rubrics.services import version_publish
from apps.rubrics.twilio_publish import (
    SCRIPT_ADHERENCE_OPERATOR_ID,
    TwilioNotConfigured,
    TwilioPublishFailed,
    version_push_to_twilio,
)

from .test_scripttext import TUTORIAL

pytestmark = pytest.mark.django_db

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"
CONFIGURATION_ID = "intelligence_configuration_01ktgggggggggggggggggggggg"
RULE_ID = "intelligence_configurationrule_01kthhhhhhhhhhhhhhhhhhhhhh"
OTHER_RULE_ID = "intelligence_configurationrule_01ktoooooooooooooooooooooo"
PATH = f"/v3/ControlPlane/Configurations/{CONFIGURATION_ID}"


def configuration(script: str = "Category: Old\nAction: Old.\n") -> dict[str, Any]:
    """A configuration as Twilio returns it: two rules, the first with Script Adherence."""
    return {
        "accountId": ACCOUNT_SID,
        "id": CONFIGURATION_ID,
        "displayName": "contact_center_qa",
        "description": "QA rules",
        "version": 3,
        "rules": [
            {
                "id": RULE_ID,
                "operators": [
                    {
                        "id": SCRIPT_ADHERENCE_OPERATOR_ID,
                        "version": 2,
                        "parameters": {"script": script},
                    }
                ],
                "triggers": [{"on": "COMMUNICATION", "parameters": {"count": 1}}],
                "actions": [{"type": "WEBHOOK", "method": "POST", "url": "https://x.test/ci"}],
                "context": {"memory": {"enabled": True}},
            },
            {
                "id": OTHER_RULE_ID,
                "operators": [{"id": "intelligence_operator_01kcrvw16kfa88qvgrfmr7y151"}],
                "triggers": [{"on": "CONVERSATION_END"}],
                "actions": [],
            },
        ],
        "dateCreated": "2026-05-18T20:43:10Z",
        "dateUpdated": "2026-05-18T20:43:10Z",
    }


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeTwilio:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    # (status, body) answered to GET and PUT; None: the defaults below.
    get_answer: tuple[int, Any] | None = None
    put_answer: tuple[int, Any] | None = None


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """An HTTP server on 127.0.0.1 (random port) that records requests and answers like the
    Intelligence v3 Configurations resource."""
    state: dict[str, FakeTwilio] = {}

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def record(self) -> Recorded:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = Recorded(
                self.command, self.path, dict(self.headers), json.loads(raw) if raw else None
            )
            state["fake"].requests.append(entry)
            return entry

        def do_GET(self) -> None:
            self.record()
            self.answer(*(state["fake"].get_answer or (200, configuration())))

        def do_PUT(self) -> None:
            entry = self.record()
            default = (200, {**configuration(), **entry.body, "version": 4})
            self.answer(*(state["fake"].put_answer or default))

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    state["fake"] = FakeTwilio(url=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield state["fake"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def configured(settings, fake_twilio):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_INTELLIGENCE_CONFIGURATION_ID = CONFIGURATION_ID
    settings.TWILIO_INTELLIGENCE_RULE_ID = RULE_ID
    settings.TWILIO_API_BASE_URL = fake_twilio.url
    return fake_twilio


@pytest.fixture
def published(world):
    version = rubric_import(fmt="twilio", text=TUTORIAL, name="Tutorial", actor=world.admin)
    return version_publish(version=version, actor=world.admin)


EXPORTED = TUTORIAL.replace("Score weight:10%", "Score weight: 10%")


def test_push_reads_the_configuration_then_puts_it_back_with_the_new_script(
    world, configured, published
):
    result = version_push_to_twilio(version=published, actor=world.admin)
    assert (result.configuration_id, result.rule_id, result.configuration_version) == (
        CONFIGURATION_ID,
        RULE_ID,
        4,
    )
    assert [(r.method, r.path) for r in configured.requests] == [("GET", PATH), ("PUT", PATH)]
    put = configured.requests[1]
    assert put.headers["Content-Type"] == "application/json"
    [rule, _] = put.body["rules"]
    assert rule["id"] == RULE_ID
    assert rule["operators"] == [
        {"id": SCRIPT_ADHERENCE_OPERATOR_ID, "version": 2, "parameters": {"script": EXPORTED}}
    ]
    assert result.script == EXPORTED


def test_push_keeps_the_rest_of_the_configuration_as_twilio_returned_it(
    world, configured, published
):
    version_push_to_twilio(version=published, actor=world.admin)
    body = configured.requests[1].body
    assert (body["displayName"], body["description"]) == ("contact_center_qa", "QA rules")
    rule, other = body["rules"]
    assert rule["triggers"] == [{"on": "COMMUNICATION", "parameters": {"count": 1}}]
    assert rule["actions"] == [{"type": "WEBHOOK", "method": "POST", "url": "https://x.test/ci"}]
    assert rule["context"] == {"memory": {"enabled": True}}
    assert other == {
        "id": OTHER_RULE_ID,
        "operators": [{"id": "intelligence_operator_01kcrvw16kfa88qvgrfmr7y151"}],
        "triggers": [{"on": "CONVERSATION_END"}],
        "actions": [],
    }


def test_push_authenticates_with_the_account_sid_and_auth_token(world, configured, published):
    version_push_to_twilio(version=published, actor=world.admin)
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert {r.headers["Authorization"] for r in configured.requests} == {expected}


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_a_twilio_error_is_reported_clearly(world, configured, published, status):
    configured.put_answer = (
        status,
        {"code": 20001, "message": "Invalid operator parameters", "status": status},
    )
    with pytest.raises(TwilioPublishFailed) as caught:
        version_push_to_twilio(version=published, actor=world.admin)
    assert f"Twilio answered {status}" in caught.value.message
    assert "Invalid operator parameters" in caught.value.message
    assert caught.value.extra == {"twilio_status": status, "twilio_code": 20001}
    assert caught.value.status == 502


def test_an_rfc_9457_error_from_twilio_is_reported_clearly(world, configured, published):
    configured.get_answer = (
        404,
        {"type": "https://x.test/20404", "title": "Not found", "status": 404, "code": 20404},
    )
    with pytest.raises(TwilioPublishFailed) as caught:
        version_push_to_twilio(version=published, actor=world.admin)
    assert caught.value.extra == {"twilio_status": 404, "twilio_code": 20404}
    assert [r.method for r in configured.requests] == ["GET"]


def test_a_rule_that_is_not_in_the_configuration_is_reported(
    world, configured, published, settings
):
    settings.TWILIO_INTELLIGENCE_RULE_ID = "intelligence_configurationrule_missing"
    with pytest.raises(TwilioPublishFailed, match="has no rule"):
        version_push_to_twilio(version=published, actor=world.admin)
    assert [r.method for r in configured.requests] == ["GET"]


def test_a_rule_without_script_adherence_is_reported(world, configured, published, settings):
    settings.TWILIO_INTELLIGENCE_RULE_ID = OTHER_RULE_ID
    with pytest.raises(TwilioPublishFailed, match="no Script Adherence operator"):
        version_push_to_twilio(version=published, actor=world.admin)


def test_twilio_out_of_reach_is_reported(world, configured, published, settings):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(TwilioPublishFailed, match="Could not reach Twilio"):
        version_push_to_twilio(version=published, actor=world.admin)


@pytest.mark.parametrize(
    "missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_INTELLIGENCE_RULE_ID"]
)
def test_missing_settings_say_not_configured(world, configured, published, settings, missing):
    setattr(settings, missing, "")
    with pytest.raises(TwilioNotConfigured) as caught:
        version_push_to_twilio(version=published, actor=world.admin)
    assert missing in caught.value.message
    assert configured.requests == []


def test_only_the_published_version_is_pushed(world, configured):
    draft = rubric_import(fmt="twilio", text=TUTORIAL, name="Draft", actor=world.admin)
    from apps.rubrics.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        version_push_to_twilio(version=draft, actor=world.admin)
    assert configured.requests == []


# Through the API --------------------------------------------------------------------------------


def push(client, version):
    return client.post(f"/api/rubrics/versions/{version.pk}/push-to-twilio/")


def test_admin_pushes_through_the_api(world, client_for, configured, published):
    response = push(client_for(world.admin), published)
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "configuration_id": CONFIGURATION_ID,
        "rule_id": RULE_ID,
        "configuration_version": 4,
        "script": EXPORTED,
    }


def test_api_answers_503_when_not_configured(world, client_for, published, settings):
    settings.TWILIO_INTELLIGENCE_CONFIGURATION_ID = ""
    response = push(client_for(world.admin), published)
    assert response.status_code == 503
    assert response.json()["code"] == "twilio_not_configured"


def test_api_answers_502_when_twilio_refuses(world, client_for, configured, published):
    configured.put_answer = (500, {"code": 20500, "message": "Internal", "status": 500})
    response = push(client_for(world.admin), published)
    assert response.status_code == 502
    assert response.json()["extra"] == {"twilio_status": 500, "twilio_code": 20500}
