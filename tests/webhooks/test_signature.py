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
