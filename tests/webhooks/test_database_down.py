"""With PostgreSQL unreachable a webhook is answered 503, so Twilio retries: never a 2xx for
something that was not stored."""

from __future__ import annotations

import copy

import pytest
from django.db import connection

from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import ORCHESTRATOR, RELAY_ACTION, fixture, post_form, post_json


@pytest.fixture
def database_unreachable():
    saved = copy.deepcopy(connection.settings_dict)
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    connection.settings_dict["HOST"] = "127.0.0.1"
    connection.settings_dict["PORT"] = "1"  # nothing listens here
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        pool["timeout"] = 1
    yield
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_database_down_answers_503_and_stores_nothing(twilio, database_unreachable):
    response = post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert response.status_code == 503
    assert "retry" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_database_down_relay_action_answers_503(twilio, database_unreachable):
    response = post_form(
        twilio, RELAY_ACTION, {"CallSid": "CA1", "SessionId": "VX1", "SessionStatus": "ended"}
    )
    assert response.status_code == 503


@pytest.mark.django_db(transaction=True)
def test_after_the_database_returns_the_retried_delivery_is_stored(twilio):
    response = post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1
