"""Which URL the signature is checked against, and which tokens."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import AUTH_TOKEN, ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db


def signed_for(url_base: str, payload: dict) -> tuple[str, str, str]:
    body = json.dumps(payload)
    validator = RequestValidator(AUTH_TOKEN)
    path = f"{ORCHESTRATOR}?{urlencode({'bodySHA256': validator.compute_hash(body)})}"
    return path, body, validator.compute_signature(url_base + path, {})


def test_signature_is_checked_against_public_base_url_not_the_local_host(twilio, settings):
    settings.ALLOWED_HOSTS = ["10.0.0.7"]
    path, body, signature = signed_for(
        "https://portal.example.com", fixture("conversation_created")
    )
    response = twilio.post(
        path,
        data=body,
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_HOST="10.0.0.7:8000",
    )
    assert response.status_code == 200


def test_url_behind_a_trusted_proxy_is_accepted(twilio, settings):
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["*"]
    path, body, signature = signed_for(
        "https://second-name.example.org", fixture("conversation_created")
    )
    response = twilio.post(
        path,
        data=body,
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_X_FORWARDED_HOST="second-name.example.org",
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert response.status_code == 200


def test_forwarded_host_is_ignored_unless_the_proxy_is_trusted(twilio, settings):
    settings.ALLOWED_HOSTS = ["*"]
    path, body, signature = signed_for(
        "https://second-name.example.org", fixture("conversation_created")
    )
    response = twilio.post(
        path,
        data=body,
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_X_FORWARDED_HOST="second-name.example.org",
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert response.status_code == 403


def test_a_second_accounts_token_is_accepted(twilio):
    from tests.fixtures.twilio import OTHER_ACCOUNT_TOKEN

    response = post_json(
        twilio, ORCHESTRATOR, fixture("conversation_created"), token=OTHER_ACCOUNT_TOKEN
    )
    assert response.status_code == 200


def test_no_configured_token_refuses_everything_even_in_debug(twilio, settings):
    settings.DEBUG = True
    settings.TWILIO_AUTH_TOKENS = []
    response = post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert response.status_code == 403
    assert "no Twilio auth token" in response.json()["error"]
    assert InboundEvent.objects.get().status == "rejected"


@pytest.mark.parametrize("entry", ["AC00000000000000000000000000000000:", "AC1: ", ":token"])
def test_a_token_entry_without_its_token_or_account_is_refused_at_start_up(entry):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TWILIO_AUTH_TOKENS": entry, "DJANGO_SETTINGS_MODULE": "ccportal.settings"}
    env.pop("TWILIO_AUTH_TOKEN", None)
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "ImproperlyConfigured: TWILIO_AUTH_TOKENS: " in started.stderr
    assert "AC...:<auth token>" in started.stderr


def test_a_request_signed_with_an_empty_key_is_refused_even_if_settings_hold_one(twilio, settings):
    settings.TWILIO_AUTH_TOKENS = ["AC00000000000000000000000000000000:"]  # bypassing start-up
    response = post_json(twilio, ORCHESTRATOR, fixture("conversation_created"), token="")
    assert response.status_code == 403


def test_missing_signature_header_is_refused(twilio):
    body = json.dumps(fixture("conversation_created"))
    response = twilio.post(
        f"{ORCHESTRATOR}?bodySHA256=x", data=body, content_type="application/json"
    )
    assert response.status_code == 403
    assert "missing" in response.json()["error"]


def test_json_without_body_hash_in_the_url_is_refused(twilio):
    body = json.dumps(fixture("conversation_created"))
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"https://portal.example.com{ORCHESTRATOR}", {}
    )
    response = twilio.post(
        ORCHESTRATOR, data=body, content_type="application/json", HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403
    assert "bodySHA256" in response.json()["error"]


# ---- verify() checks what RequestValidator.validate checks -----------------------------------

PUBLIC_BASES = [
    "https://portal.example.com",
    "https://portal.example.com:443",
    "http://portal.example.com:8080",
    "http://127.0.0.1:8000",
]


@pytest.mark.parametrize("base", PUBLIC_BASES)
@pytest.mark.parametrize("signed_as", ["as configured", "with port", "without port", "other"])
@pytest.mark.parametrize("body_hash", ["right", "wrong"])
def test_verify_agrees_with_request_validator(rf, settings, base, signed_as, body_hash):
    from urllib.parse import urlsplit

    from twilio.request_validator import add_port, remove_port

    from apps.webhooks.signature import verify

    settings.PUBLIC_BASE_URL = base
    validator = RequestValidator(AUTH_TOKEN)
    body = json.dumps({"eventType": "COMMUNICATION_CREATED", "data": {"id": "CM1"}})
    digest = validator.compute_hash(body if body_hash == "right" else body + " ")
    path = f"{ORCHESTRATOR}?{urlencode({'bodySHA256': digest})}"
    url = base + path
    parsed = urlsplit(url)
    signed_url = {
        "as configured": url,
        "with port": add_port(parsed),
        "without port": remove_port(parsed),
        "other": "https://elsewhere.example.com" + path,
    }[signed_as]
    signature = validator.compute_signature(signed_url, {})
    request = rf.post(
        path, body, content_type="application/json", HTTP_X_TWILIO_SIGNATURE=signature
    )

    verdict = verify(request, body=body, form=None)

    assert verdict.valid == validator.validate(url, body, signature)
    if signed_as != "other" and body_hash == "right":
        assert verdict.valid


@pytest.mark.parametrize("base", PUBLIC_BASES)
@pytest.mark.parametrize("tampered", [False, True])
def test_verify_of_a_form_agrees_with_request_validator(rf, settings, base, tampered):
    from apps.webhooks.signature import verify

    settings.PUBLIC_BASE_URL = base
    validator = RequestValidator(AUTH_TOKEN)
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed", "To": "+15550001111"}
    path = "/webhooks/twilio/voice/status"
    signature = validator.compute_signature(base + path, params)
    sent = dict(params, CallStatus="busy") if tampered else params
    request = rf.post(
        path,
        urlencode(sent),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )

    verdict = verify(request, body=None, form=request.POST)

    assert verdict.valid == validator.validate(base + path, request.POST, signature)
    assert verdict.valid is not tampered
