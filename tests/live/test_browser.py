"""The conversation page, live, in Chromium against Daphne: lines appear as the ingest stores
them, a line whose message the socket dropped is fetched and shown in its place, and a reader who
scrolled up is not dragged down (a "new lines" pill instead).

Lines are stored from the test (the ingest worker's service, committed); Daphne serves the page
and the socket from a process of its own over the real Redis channel layer.
"""

from __future__ import annotations

import re
from unittest import mock

import pytest

from apps.live import streams
from tests.fixtures import browser as fixtures
from tests.live.test_streams import say

pytestmark = [*fixtures.MARKS, pytest.mark.django_db(transaction=True)]


def lines_shown(page) -> list[str]:
    return [t.strip() for t in page.locator("[data-testid=line] .bubble").all_inner_texts()]


def test_a_supervisor_watches_lines_arrive_and_none_is_lost(browser, sync_api, asgi_server, world):
    page = fixtures.signed_in(browser, asgi_server, world.supervisor)
    call = world.north_call
    page.goto(f"{asgi_server.url}/conversations/{call.pk}/")
    expect = sync_api.expect
    # Connected (the world's calls are closed: "Ended", not "Live"; late lines still arrive).
    expect(page.locator("[data-live-conversation]")).to_have_attribute("data-live-state", "ended")
    before = lines_shown(page)

    say(call, "Hello, this is the bank, how can I help?", n=1, seconds=60)
    expect(page.locator("#transcript-body")).to_contain_text("how can I help?")
    # At the foot of the transcript, the page follows the conversation.
    page.locator("[data-testid=line]").last.scroll_into_view_if_needed()

    # The socket drops one message (as over a Redis restart): the next one shows the gap, and
    # the page fetches the missing line and puts it where it was said.
    with mock.patch.object(streams, "broadcast", lambda *args, **kwargs: None):
        say(call, "I lost my card yesterday.", n=2, seconds=70)
    say(call, "I can block it for you right away.", n=3, seconds=80)
    expect(page.locator("#transcript-body")).to_contain_text("right away")
    expect(page.locator("#transcript-body")).to_contain_text("lost my card")
    assert lines_shown(page) == [
        *before,
        "Hello, this is the bank, how can I help?",
        "I lost my card yesterday.",
        "I can block it for you right away.",
    ]
    expect(page.locator("[data-live-line-count]")).to_have_text(f"{len(before) + 3} lines")
    expect(page.locator("[data-testid=line]").last).to_be_in_viewport()
    expect(page.locator("[data-live-new-lines]")).to_be_hidden()

    # Scrolled up to read (on a smaller screen, so the end is out of sight): the page stays put
    # and offers the new line.
    page.set_viewport_size({"width": 1000, "height": 400})
    page.evaluate("window.scrollTo(0, 0)")
    say(call, "Thank you, that was quick.", n=4, seconds=90)
    pill = page.locator("[data-live-new-lines]")
    expect(pill).to_be_visible()
    expect(pill).to_contain_text("1 new line")
    assert page.evaluate("window.scrollY") == 0
    pill.click()
    expect(pill).to_be_hidden()
    expect(page.locator("[data-testid=line]").last).to_be_in_viewport()


def test_an_insights_event_ticks_the_checklist_and_marks_lines_without_asking_the_server(
    browser, sync_api, asgi_server, world
):
    from apps.live.streams import live_publish
    from tests.intelligence.test_page import twilio_result

    call = world.north_call
    twilio_result(call, name="Script Adherence", result={"score": 0, "categories": [
        {"category_key": "Opening", "criteria": [
            {"criteria_key": "greet", "criteria_met": "Pending", "name": "Greets"}]}]})  # fmt: skip
    page = fixtures.signed_in(browser, asgi_server, world.supervisor)
    asked = []
    page.on("request", lambda request: "partial=insights" in request.url and asked.append(1))
    page.goto(f"{asgi_server.url}/conversations/{call.pk}/")
    expect = sync_api.expect
    expect(page.locator("[data-live-conversation]")).to_have_attribute("data-live-state", "ended")
    page.wait_for_load_state("networkidle")  # the catch-up the open socket asks for is done
    lines = list(call.communications.order_by("offset_ms"))
    customer = [line for line in lines if line.author.type == "CUSTOMER"]
    fixtures_lines = [
        {"id": line.twilio_id, "label": "negative", "score": -0.6, "colour": "danger",
         "title": "Sentiment: negative"} for line in lines
    ]  # fmt: skip

    live_publish(call.pk, "insights", {"conversation": call.pk, "data": {
        "sentiment": {"overall": None, "customer": None, "lines": fixtures_lines},
        "adherence": {"score": 100, "criteria": [
            {"key": "greet", "met": "Succeeded", "status": "Met", "colour": "success",
             "icon": "bi-check-circle-fill", "reason": "Required phrases said."}]},
    }})  # fmt: skip

    criterion = page.locator("[data-criterion=greet]")
    expect(criterion).to_have_attribute("data-met", "Succeeded")
    expect(criterion).to_contain_text("Required phrases said.")
    expect(page.locator("[data-testid=adherence-score]")).to_have_text("100%")
    mark = page.locator(f"#comm-{customer[0].pk} [data-testid=line-sentiment]")
    expect(mark).to_have_text(re.compile("negative"))
    page.wait_for_timeout(1000)
    assert asked == []  # applied from the event itself (the table catches up within 10 s)


def test_the_indicator_says_live_only_while_the_call_goes_on(browser, sync_api, asgi_server, world):
    from django.utils import timezone

    from apps.conversations import services as conversations
    from apps.conversations.choices import ConversationStatus
    from tests.fixtures import builders

    expect = sync_api.expect
    page = fixtures.signed_in(browser, asgi_server, world.supervisor)
    indicator = page.locator("[data-live-indicator]")
    root = page.locator("[data-live-conversation]")

    # A closed conversation: connected, but never "Live".
    page.goto(f"{asgi_server.url}/conversations/{world.north_call.pk}/")
    expect(root).to_have_attribute("data-live-state", "ended")
    expect(indicator).to_have_text("Ended")

    # A conversation going on is "Live", and turns "Ended" when it closes while watched.
    active = builders.make_conversation(agent=world.agent, status=ConversationStatus.ACTIVE)
    page.goto(f"{asgi_server.url}/conversations/{active.pk}/")
    expect(indicator).to_have_text("Live")
    conversations.conversation_apply(
        twilio_id=active.twilio_id, status=ConversationStatus.CLOSED, version=timezone.now()
    )
    expect(indicator).to_have_text("Ended")
    expect(root).to_have_attribute("data-live-state", "ended")
