"""The live floor end to end, in Chromium against Daphne and a Celery worker (each a process of
its own, on the test database and the real Redis): a demo call is replayed as Twilio would send
it (signed webhooks, one at a time); the supervisor watches its tile change and an alert
appear, sends a tip; the agent's assist view shows the transcript growing and the tip; when the
call ends the agent edits the prefilled wrap-up and saves it, and the conversation page shows
the AI's and the agent's version.

The replayed call is a real Harper Valley call of Linda's (the `agent` login) in which one line
of the caller was changed to ask for a manager, so the default alert rule "Customer asks for a
person" has something to hear.
"""

from __future__ import annotations

import dataclasses
import re
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from apps.accounts.models import User
from apps.demo.dataset import read_calls
from apps.demo.services import demo_intelligence_load, demo_load
from apps.demo.simulator import sign, simulated_call
from apps.floor.models import AlertRule
from tests.fixtures import browser as fixtures

pytestmark = [*fixtures.MARKS, pytest.mark.django_db(transaction=True)]

LINDA_CALL = "ff0296d00e5e4184"  # Linda tells Robert Miller the branch hours (54 s)
ASKS = "can i speak to a manager about this please"


def replayed_call():
    demo = {call.sid: call for call in read_calls()}[LINDA_CALL]
    segments = tuple(
        dataclasses.replace(segment, text=ASKS) if segment.text == "wonderful" else segment
        for segment in demo.segments
    )
    demo = dataclasses.replace(demo, segments=segments)
    return simulated_call(demo, start=datetime.now(UTC), speed=20)


def post(server, event) -> None:
    request = sign(event, base_url=server.url, token=fixtures.TWILIO_TOKEN)
    answer = urllib.request.urlopen(
        urllib.request.Request(request.url, data=request.body, headers=request.headers), timeout=10
    )
    assert answer.status == 200


def test_a_supervisor_coaches_a_live_call_and_the_agent_wraps_it_up(
    browser, sync_api, asgi_server, celery_worker, db
):
    demo_load(calls=[{call.sid: call for call in read_calls()}[LINDA_CALL]])
    demo_intelligence_load(shadow=False)
    assert AlertRule.objects.filter(name="Customer asks for a person").exists()  # a default
    supervisor = User.objects.get(username="supervisor")
    agent = User.objects.get(username="agent")
    expect = sync_api.expect
    call = replayed_call()
    events = list(call.events)

    floor = fixtures.signed_in(browser, asgi_server, supervisor)
    floor.set_default_timeout(30_000)
    floor.goto(f"{asgi_server.url}/live/")
    expect(floor.locator("[data-testid=floor-indicator]")).to_contain_text("Live")
    expect(floor.locator("[data-testid=floor-empty]")).to_be_visible()

    # The call starts: the conversation, its two participants and Linda's first lines.
    for event in events[:6]:
        post(asgi_server, event)
    tile = floor.locator("[data-testid=floor-tile]").filter(has_text="Robert Miller")
    expect(tile).to_be_visible()
    expect(tile).to_contain_text("Linda")
    expect(tile.locator("[data-testid=tile-adherence]")).not_to_have_attribute("data-met", "0")
    met_before = int(tile.locator("[data-testid=tile-adherence]").get_attribute("data-met"))

    assist = fixtures.signed_in(browser, asgi_server, agent)
    assist.set_default_timeout(30_000)
    assist.goto(f"{asgi_server.url}/assist/{call.call_sid}/")
    expect(assist.locator("[data-live-indicator]")).to_contain_text("Live")
    lines_before = assist.locator("[data-testid=line]").count()

    # The caller speaks, and asks for a manager: the transcript grows on the agent's page, the
    # tile's sentiment and checklist move, and the alert shows on the tile and as a toast.
    closing = events[-1]
    for event in events[6:-3]:
        post(asgi_server, event)
        time.sleep(0.2)
    expect(assist.locator("#transcript-body")).to_contain_text(ASKS)
    assert assist.locator("[data-testid=line]").count() > lines_before
    expect(tile.locator("[data-testid=tile-spark]")).not_to_have_attribute("data-points", "0")
    expect(tile.locator("[data-testid=tile-alert]")).to_contain_text("Customer asks for a person")
    expect(floor.locator("[data-testid=floor-toast]").first).to_contain_text("Robert Miller")
    met_now = int(tile.locator("[data-testid=tile-adherence]").get_attribute("data-met"))
    assert met_now >= met_before
    expect(assist.locator("[data-testid=alert]")).to_contain_text("Customer asks for a person")
    expect(assist.locator("[data-testid=sentiment-chart] svg")).to_be_visible()  # mood trend

    # The supervisor opens the call from the floor and sends Linda a tip.
    tile.locator("[data-testid=tile-duration]").click()
    floor.wait_for_url(re.compile(r"/conversations/\d+/"))
    floor.fill("[data-testid=tip-text]", "Offer the branch manager's callback line.")
    floor.click("[data-testid=tip-send]")
    expect(assist.locator("[data-testid=tip]")).to_contain_text("branch manager's callback line")

    # The call ends: the assist view turns into wrap-up, prefilled by the AI.
    for event in [*events[-3:-1], closing]:
        post(asgi_server, event)
    summary = assist.locator("[data-testid=wrapup-summary]")
    expect(summary).to_be_visible()
    expect(summary).not_to_have_value("", timeout=30_000)
    ai_summary = summary.input_value()
    summary.fill(ai_summary + " He will visit the branch on Monday.")
    assist.select_option("[data-testid=wrapup-outcome]", "resolved")
    assist.click("[data-testid=wrapup-save]")
    # The save waits for any rule execution on the call to commit (they number the same
    # stream), and the end of a call runs several: allow for that on a loaded box.
    saved = assist.locator("[data-testid=wrapup-status], [data-testid=wrapup-error]").first
    expect(saved).to_be_visible(timeout=30_000)
    assert saved.inner_text().startswith("Saved"), saved.inner_text()

    floor.reload()
    versions = floor.locator("[data-testid=wrapup-versions]")
    expect(versions.locator("[data-testid=wrapup-agent-version]")).to_contain_text(
        "visit the branch on Monday"
    )
    expect(versions.locator("[data-testid=wrapup-ai-version]")).to_contain_text(ai_summary[:40])
    expect(versions.locator("[data-testid=wrapup-change]")).to_contain_text("summary")
    floor.goto(f"{asgi_server.url}/live/")
    expect(floor.locator("[data-testid=floor-tile]")).to_have_count(0)  # the call left the floor
