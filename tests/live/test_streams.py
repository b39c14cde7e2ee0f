"""A conversation's live events: numbered without gaps, carrying their data, and replayed to a
browser that missed some, exactly the missed ones.

Lines are stored through the same service the ingest worker calls; the socket is the whole ASGI
stack over the real Redis channel layer; catch-up is the HTTP endpoint the page calls.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from apps.conversations import services as conversations
from apps.conversations.services import CommunicationInput
from apps.live.models import LiveEvent, LiveStream
from apps.live.streams import live_events_after, live_publish, live_purge
from tests.live.test_consumer import _cookie, socket


def line(conversation, text: str, *, n: int, seconds: float = 0) -> CommunicationInput:
    """A line of the conversation, as COMMUNICATION_CREATED delivers it."""
    at = conversation.started_at + timedelta(seconds=seconds)
    return CommunicationInput(
        twilio_id=f"conv_communication_live{conversation.pk:06d}{n:06d}",
        conversation_twilio_id=conversation.twilio_id,
        occurred_at=at,
        text=text,
        author_address="+15550001111",
        channel="VOICE",
        version=at,
    )


def say(conversation, text: str, *, n: int, seconds: float = 0):
    communication, _ = conversations.communication_apply(
        line(conversation, text, n=n, seconds=seconds)
    )
    return communication


def numbers(conversation) -> list[int]:
    return list(
        LiveEvent.objects.filter(conversation_id=conversation.pk)
        .order_by("seq")
        .values_list("seq", flat=True)
    )


@pytest.mark.django_db
def test_each_stored_line_is_the_next_numbered_event_of_its_conversation(world):
    first = say(world.north_call, "hello", n=1)
    say(world.north_call, "my card number is 4111 1111 1111 1111", n=2, seconds=3)
    say(world.south_call, "hi", n=1)

    assert numbers(world.north_call) == [1, 2] and numbers(world.south_call) == [1]
    event = LiveEvent.objects.get(conversation_id=world.north_call.pk, seq=1)
    assert event.event == "line"
    assert event.payload | {"occurred_at": None} == {
        "id": first.pk,
        "twilio_id": first.twilio_id,
        "kind": "unknown",
        "role": "Unknown",
        "speaker": "+15550001111",
        "occurred_at": None,
        "offset_ms": first.offset_ms,
        "offset": "00:00",
        "channel": "VOICE",
        "text": "hello",
        "sentiment": None,
    }
    redacted = LiveEvent.objects.get(conversation_id=world.north_call.pk, seq=2).payload["text"]
    assert "4111" not in redacted  # the event carries the text as stored: redacted


@pytest.mark.django_db
def test_a_rolled_back_change_gives_its_number_back(world):
    say(world.north_call, "one", n=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        say(world.north_call, "never stored", n=2)
        raise RuntimeError("the worker died before commit")
    say(world.north_call, "two", n=3)

    assert numbers(world.north_call) == [1, 2]
    assert LiveEvent.objects.get(conversation_id=world.north_call.pk, seq=2).payload["text"] == (
        "two"
    )


@pytest.mark.django_db
def test_a_replayed_event_is_not_numbered_again_and_a_newer_version_is(world):
    say(world.north_call, "hello", n=1)
    # The same COMMUNICATION_CREATED delivered again (a retried webhook): no new event.
    conversations.communication_apply(line(world.north_call, "hello", n=1))
    assert numbers(world.north_call) == [1]
    # COMMUNICATION_UPDATED with a newer version (a corrected transcription): the next event.
    changed = line(world.north_call, "hello there", n=1)
    conversations.communication_apply(
        CommunicationInput(
            **{**changed.__dict__, "version": changed.version + timedelta(seconds=5)}
        )
    )
    assert numbers(world.north_call) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_publishers_on_many_connections_at_once_leave_no_gap_and_no_twin(world):
    conversation_id = world.north_call.pk
    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def publish(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(20):
                with transaction.atomic():
                    live_publish(conversation_id, "test", {"worker": worker, "n": n})
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=publish, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures
    assert numbers(world.north_call) == list(range(1, 121))
    assert LiveStream.objects.get(conversation_id=conversation_id).last_seq == 120


@pytest.mark.django_db
def test_catch_up_returns_exactly_the_events_after_a_number_in_pages(world, settings):
    for n in range(1, 8):
        say(world.north_call, f"line {n}", n=n, seconds=n)
    settings.LIVE_CATCHUP_LIMIT = 3

    page = live_events_after(world.north_call.pk, after=2)
    assert [e["seq"] for e in page.events] == [3, 4, 5] and page.has_more
    rest = live_events_after(world.north_call.pk, after=5)
    assert [e["seq"] for e in rest.events] == [6, 7] and not rest.has_more
    assert rest.last_seq == 7 and rest.epoch == 1
    assert live_events_after(world.north_call.pk, after=7).events == []


@pytest.mark.django_db
def test_events_that_are_no_longer_kept_say_gone_and_the_stream_goes_on(world, settings):
    for n in range(1, 4):
        say(world.north_call, f"line {n}", n=n)
    LiveEvent.objects.filter(seq__lte=2).update(created_at=timezone.now() - timedelta(days=2))
    settings.LIVE_EVENT_RETENTION_HOURS = 24

    assert live_purge() == 2
    assert live_events_after(world.north_call.pk, after=0).gone == "purged"
    assert live_events_after(world.north_call.pk, after=1).gone == "purged"
    assert [e["seq"] for e in live_events_after(world.north_call.pk, after=2).events] == [3]
    say(world.north_call, "line 4", n=4)
    assert numbers(world.north_call) == [3, 4]


@pytest.mark.django_db
def test_the_catch_up_endpoint_answers_only_who_may_see_the_conversation(world):
    say(world.north_call, "hello", n=1)
    say(world.north_call, "again", n=2)
    url = f"/api/conversations/{world.north_call.pk}/events/"

    mine = Client()
    mine.force_login(world.agent_user)
    answer = mine.get(url, {"after": 1, "epoch": 1})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["last_seq"], body["has_more"]) == (2, False)
    assert [(e["seq"], e["event"], e["payload"]["text"]) for e in body["events"]] == [
        (2, "line", "again")
    ]

    other = Client()
    other.force_login(world.other_agent_user)
    assert other.get(url, {"after": 0}).status_code == 404
    assert mine.get(url, {"after": "soon"}).status_code == 400
    assert mine.get(url, {"after": -1}).status_code == 400
    LiveStream.objects.filter(conversation_id=world.north_call.pk).update(epoch=2)
    gone = mine.get(url, {"after": 1, "epoch": 1})
    assert gone.status_code == 410 and gone.json()["extra"]["reason"] == "epoch"


# Over the socket ---------------------------------------------------------------------------------


def _say_committed(conversation, text: str, n: int) -> None:
    """A line from the ingest worker: its own transaction, committed (the socket sees it)."""

    def work() -> None:
        try:
            say(conversation, text, n=n, seconds=n)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


@pytest.mark.django_db(transaction=True)
async def test_a_browser_that_reconnects_gets_exactly_the_lines_it_missed(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_cookie)(world.supervisor)
    conversation = world.north_call
    url = f"/api/conversations/{conversation.pk}/events/"

    browser = socket(conversation.pk, cookie)
    assert (await browser.connect())[0]
    await sync_to_async(_say_committed)(conversation, "first", 1)
    first = await browser.receive_json_from(timeout=5)
    assert (first["event"], first["seq"], first["epoch"]) == ("line", 1, 1)
    assert first["payload"]["text"] == "first"
    await browser.disconnect()

    # Away: two lines are said while no socket listens.
    await sync_to_async(_say_committed)(conversation, "second", 2)
    await sync_to_async(_say_committed)(conversation, "third", 3)

    again = socket(conversation.pk, cookie)
    assert (await again.connect())[0]
    await sync_to_async(_say_committed)(conversation, "fourth", 4)
    live = await again.receive_json_from(timeout=5)
    assert live["seq"] == 4  # a gap after 1: the page asks for what lies between

    def catch_up() -> dict:
        client = Client()
        client.force_login(world.supervisor)
        return client.get(url, {"after": first["seq"], "epoch": 1}).json()

    missed = await sync_to_async(catch_up)()
    assert [(e["seq"], e["payload"]["text"]) for e in missed["events"]] == [
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
    ]
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
def test_a_line_stored_while_a_rule_execution_holds_the_stream_waits_and_does_not_deadlock(world):
    """A rule execution publishes its event (holding the conversation's stream) and its rows'
    foreign keys to the conversation are checked at commit; meanwhile the ingest has locked the
    conversation and waits for the stream. Both must finish."""
    from apps.conversations.models import Participant

    conversation = world.north_call
    published = threading.Event()
    failures: list[BaseException] = []

    def rule_execution() -> None:
        try:
            with transaction.atomic():
                live_publish(conversation.pk, "insights", {"rule": 1})
                Participant.objects.create(conversation_id=conversation.pk, twilio_id="pa_late")
                published.set()
                time.sleep(0.5)  # the ingest takes the conversation and waits for the stream
        except BaseException as error:
            failures.append(error)
        finally:
            published.set()
            connections.close_all()

    def ingest() -> None:
        try:
            published.wait(5)
            say(conversation, "said while the rule ran", n=1)
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=rule_execution), threading.Thread(target=ingest)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert not failures, failures
    assert numbers(conversation) == [1, 2]
