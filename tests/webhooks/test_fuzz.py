"""Whatever Twilio (or someone holding its token) signs, the webhooks answer below 500, store
what they acknowledge, and process it without crashing.

The four parsers get arbitrary bodies, signed correctly with the twilio library's
RequestValidator so they pass the signature check: any JSON object, and the fixtures with
fields replaced by anything or removed (Orchestrator, Intelligence); any form, and real forms
with fields replaced (ConversationRelay action, call status). Stored events are then processed
as the worker would: each must end processed, ignored or failed (a payload that cannot be
applied), never left for a retry by an exception, which is what a crash in a handler becomes.
FUZZ_EXAMPLES sets how many bodies each source gets (default 15).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apps.webhooks import services
from apps.webhooks.choices import EventStatus, Source
from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import (
    INTELLIGENCE,
    ORCHESTRATOR,
    RELAY_ACTION,
    VOICE_STATUS,
    fixture,
    post_form,
    post_json,
)
from tests.webhooks.test_relay import HANDOFF_DATA, TAC_HANDOFF_DATA, action
from tests.webhooks.test_voice_status import COMPLETED, IN_PROGRESS, RINGING

# CI runs it on the oldest Python only (pyproject.toml, marker "once"; .ci/run).
pytestmark = [pytest.mark.django_db, pytest.mark.once]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # the failing body is in the message
)

TEXT = st.text(max_size=40) | st.sampled_from(["", "0", "-1", "9" * 30, "null", "ended", "\x00"])
LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
ORCHESTRATOR_FIXTURES = [
    "conversation_created",
    "participant_added",
    "agent_added",
    "communication_created",
    "conversation_closed",
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutated(data, base: dict) -> dict:
    """``base`` with a few values (at any depth) replaced by any JSON, or removed."""
    payload = json.loads(json.dumps(base))
    for _ in range(data.draw(st.integers(1, 4))):
        paths = _paths(payload)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    return payload


def _process_stored() -> None:
    """Process every pending event as the worker does; none may be left to retry."""
    for event_id in services.inbox_claim(limit=50):
        status = services.inbox_event_process(event_id=event_id)
        event = InboundEvent.objects.get(pk=event_id)
        assert status in (EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.FAILED), (
            f"{event.source} {event.event_type} left {status}: {event.error}\n{event.body}"
        )


def _assert_stored(response, source: str, payload: dict) -> None:
    """A 2xx means the event is in the inbox: this delivery's row, or (a duplicate) the row of
    the delivery with the same idempotency key."""
    event_id = response.json()["event"] if source != Source.RELAY_ACTION else None
    if event_id is not None:
        assert InboundEvent.objects.filter(pk=event_id).exists(), payload
        return
    key = services.idempotency_key(source=source, token="", payload=payload)
    assert key is not None or source == Source.RELAY_ACTION, ("duplicate without a key", payload)
    rows = InboundEvent.objects.filter(source=source)
    assert (rows.filter(idempotency_key=key) if key else rows).exists(), payload


def _check_json(client, path: str, source: str, payload: dict) -> None:
    response = post_json(client, path, payload)
    assert response.status_code < 500, (response.status_code, payload)
    if response.status_code < 300:
        _assert_stored(response, source, payload)
    _process_stored()


@FUZZ
@given(data=st.data())
def test_any_signed_orchestrator_event_is_answered_stored_and_processed(twilio, data):
    if data.draw(st.booleans()):
        payload = _mutated(data, fixture(data.draw(st.sampled_from(ORCHESTRATOR_FIXTURES))))
    else:
        payload = data.draw(st.dictionaries(st.text(max_size=12), JSON, max_size=5))
    _check_json(twilio, ORCHESTRATOR, Source.ORCHESTRATOR, payload)


@FUZZ
@given(data=st.data())
def test_any_signed_intelligence_result_is_answered_stored_and_processed(twilio, data):
    if data.draw(st.booleans()):
        payload = _mutated(data, fixture("rule_execution"))
    else:
        payload = data.draw(st.dictionaries(st.text(max_size=12), JSON, max_size=5))
    _check_json(twilio, INTELLIGENCE, Source.INTELLIGENCE, payload)


def _form(data, base: dict[str, str]) -> dict[str, str]:
    """``base`` with a few fields replaced by any text, or removed, or one added."""
    form = dict(base)
    for _ in range(data.draw(st.integers(0, 4))):
        key = data.draw(st.sampled_from(sorted(form)) | st.text(min_size=1, max_size=12))
        if key in form and data.draw(st.booleans()):
            del form[key]
        else:
            form[key] = data.draw(TEXT)
    # Twilio's forms never hold NUL (a form field with one cannot be signed the same way).
    return {k.replace("\x00", ""): v.replace("\x00", "") for k, v in form.items() if k.strip()}


@FUZZ
@given(data=st.data())
def test_any_signed_relay_action_is_answered_with_twiml_and_stored(twilio, data, caplog):
    handoff = data.draw(
        st.sampled_from([HANDOFF_DATA, TAC_HANDOFF_DATA]).map(json.dumps)
        | JSON.map(json.dumps)
        | TEXT
    )
    status = data.draw(st.sampled_from(["ended", "failed", "completed"]) | TEXT)
    form = _form(data, action(session_status=status, handoff_data=handoff))
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="apps.webhooks.views"):
        response = post_form(twilio, RELAY_ACTION, form)
    assert response.status_code < 500, (response.status_code, form)
    if response.status_code < 300:
        assert response["Content-Type"].startswith("text/xml")
        _assert_stored(response, Source.RELAY_ACTION, form)
        # A crash is answered with the fallback TwiML (the caller still reaches a person) and
        # logged: it must not happen for anything a caller's session can send.
        crashes = [r for r in caplog.records if r.exc_info]
        assert not crashes, (crashes[0].getMessage(), form)


@FUZZ
@given(data=st.data())
def test_any_signed_call_status_is_answered_stored_and_processed(twilio, data):
    form = _form(data, data.draw(st.sampled_from([RINGING, IN_PROGRESS, COMPLETED])))
    response = post_form(twilio, VOICE_STATUS, form)
    assert response.status_code < 500, (response.status_code, form)
    if response.status_code < 300:
        _assert_stored(response, Source.VOICE_STATUS, form)
    _process_stored()
