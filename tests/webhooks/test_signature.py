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
