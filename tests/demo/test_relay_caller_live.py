"""The virtual-agent caller as ``make run`` plays it: each line is told as it is said, the
conversation is on the floor from the first ring, and the human part after the handoff plays at
the recording's own pace (so the call is seen live, not posted all at once)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime

from apps.demo import relay_caller
from apps.demo.dataset import read_calls


class ScriptedAgent:
    """A ``RelaySocket`` whose agent answers every final prompt with two tokens, and hands off
    (``end``) after a request for a person."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[str] = asyncio.Queue()

    async def send(self, text: str) -> None:
        message = json.loads(text)
        if message.get("type") != "prompt" or not message.get("last"):
            return
        person = message["voicePrompt"] == relay_caller.ASK_FOR_PERSON
        for token, last in (("One moment", False), (" please.", True)):
            await self.outbox.put(json.dumps({"type": "text", "token": token, "last": last}))
        if person:
            await self.outbox.put(json.dumps({"type": "end", "handoffData": "{}"}))

    async def receive(self, timeout: float) -> str | None:
        return await asyncio.wait_for(self.outbox.get(), timeout)


def _plan(*, ask_for_person: bool) -> relay_caller.CallerPlan:
    return relay_caller.CallerPlan(
        "i lost my debit card", ask_for_person=ask_for_person, interrupt=False
    )


def test_each_line_is_told_as_it_is_said_in_the_order_of_the_call():
    told: list[tuple[str, str]] = []

    async def on_line(who: str, text: str) -> None:
        told.append((who, text))

    result = asyncio.run(
        relay_caller.play_caller(
            ScriptedAgent(),
            _plan(ask_for_person=True),
            caller="+15550100",
            call_sid="CA" + "0" * 32,
            on_line=on_line,
        )
    )

    assert result.handed_off and result.call_sid == "CA" + "0" * 32
    assert told == [(who, text) for who, text in result.lines if text]
    assert told == [
        ("customer", "i lost my debit card"),
        ("ai", "One moment please."),
        ("customer", relay_caller.ASK_FOR_PERSON),
        ("ai", "One moment please."),
    ]


def test_the_caller_takes_the_time_to_speak_at_the_given_pace():
    started = time.monotonic()
    asyncio.run(
        relay_caller.play_caller(
            ScriptedAgent(), _plan(ask_for_person=False), caller="+15550100", pace=0.02
        )
    )
    # Five words asked, three answered, five words of thanks: 13 words at 20 ms at least.
    assert time.monotonic() - started >= 13 * 0.02


class Recorder:
    """Stands in for the poster: keeps the events, dated as the live poster dates them."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def event(self, event) -> None:
        self.events.append(event.payload)


def _call_events() -> relay_caller.CallEvents:
    demo = read_calls()[0]
    return relay_caller.CallEvents(
        demo, call_sid="CA" + "1" * 32, start=datetime.now(UTC), account_sid="AC" + "2" * 32
    )


def test_after_the_handoff_the_human_joins_and_the_recording_plays_in_order_of_its_ends():
    call, recorder = _call_events(), Recorder()

    relay_caller._play_human_part(call, recorder, speed=10_000, stop=threading.Event())

    joined, *lines = recorder.events
    assert joined["eventType"] == "PARTICIPANT_ADDED"
    assert joined["data"]["type"] == "HUMAN_AGENT" and joined["data"]["id"] == call.human
    spoken = sorted(
        (s for s in call.demo.segments if s.text),
        key=lambda s: (s.start_ms + s.duration_ms, s.index),
    )
    assert [event["data"]["content"]["text"] for event in lines] == [s.text for s in spoken]
    for event, segment in zip(lines, spoken, strict=True):
        author = event["data"]["author"]["participantId"]
        assert author == (call.customer if segment.role == "caller" else call.human)


def test_stopping_cuts_the_human_part_short():
    call, recorder = _call_events(), Recorder()
    stop = threading.Event()
    stop.set()

    relay_caller._play_human_part(call, recorder, speed=1, stop=stop)

    assert [event["eventType"] for event in recorder.events] == ["PARTICIPANT_ADDED"]
