from __future__ import annotations

import pytest
from django.test import Client

from apps.webhooks import services
from tests.fixtures.twilio import AUTH_TOKEN, OTHER_ACCOUNT_TOKEN


@pytest.fixture(autouse=True)
def twilio_accounts(settings):
    settings.TWILIO_AUTH_TOKENS = [
        f"AC00000000000000000000000000000000:{AUTH_TOKEN}",
        OTHER_ACCOUNT_TOKEN,
    ]
    settings.PUBLIC_BASE_URL = "https://portal.example.com"
    settings.HANDOFF_WORKFLOW_SID = "WW0123456789abcdef0123456789abcdef"


@pytest.fixture
def twilio(db) -> Client:
    """An anonymous client, as Twilio is."""
    return Client()


@pytest.fixture
def drain():
    """Run the ingest worker's loop in-process, as the Celery task would."""
    return lambda: services.inbox_drain(max_seconds=30)


@pytest.fixture(autouse=True)
def _signature_failure_counters(settings):
    """Every test starts with no signature failures counted (the counters live in Redis)."""
    from apps.webhooks import ratelimit

    ratelimit.reset()
    yield
    ratelimit.reset()
