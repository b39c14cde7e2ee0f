"""Live demo traffic: replay the Harper Valley calls as signed Conversation Orchestrator webhooks.

Plain Python, no ORM: it talks to a running portal over HTTP exactly as Twilio would
(twilio-wire §1 and §6), so everything the portal does with real traffic (signature check, inbox,
workers, live views) runs for real.

One simulated call is ``CONVERSATION_CREATED``, ``PARTICIPANT_ADDED`` for the customer and for the
``HUMAN_AGENT`` (named as the demo agent, so the portal links the participant to that Agent), one
``COMMUNICATION_CREATED`` per utterance with a transcript, and ``CONVERSATION_UPDATED`` with status
``CLOSED``. Every run uses fresh ids and a fresh call SID, so replays never touch the loaded demo
conversations. Times in the payloads follow the wall clock the events are sent on: at ``speed``
10 a one-minute call is six seconds long in the portal too, and no event is dated in the future.
"""

from __future__ import annotations

import itertools
import json
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from .dataset import DemoCall, DemoSegment
from .sender import TIMEOUT_SECONDS, Retryable, Sender, SimulatorError

ORCHESTRATOR_PATH = "/webhooks/twilio/orchestrator"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
CONFIGURATION_ID = "conv_configuration_simulator00000000000000"
# The contact center's own number, which Twilio types HUMAN_AGENT; fictional 555-01XX range.
CONTACT_CENTER_NUMBER = "+18005550100"
TRANSCRIPTION_ENGINE = "harper-valley-replay"
USER_AGENT = "ccportal-simulate-calls/1"

# Retries of one event on connection errors, 429 and 5xx: 0.25 s, 0.5 s, ... up to 4 s apart.
RETRIES = 5
BACKOFF_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 4.0


@dataclass(frozen=True)
class Credentials:
    token: str
    account_sid: str = DEFAULT_ACCOUNT_SID


def credentials_from(entry: str, *, account_sid: str = "") -> Credentials:
    """A TWILIO_AUTH_TOKENS entry: ``AC...:token`` or a bare token (then ``account_sid``)."""
    account, sep, token = entry.strip().partition(":")
    if not sep:
        account, token = "", account
    if not token.strip():
        raise SimulatorError("The Twilio auth token is empty.")
    return Credentials(
        token=token.strip(), account_sid=account.strip() or account_sid or DEFAULT_ACCOUNT_SID
    )


# ---- payloads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedEvent:
    """One webhook of a simulated call, due ``offset_ms`` (already scaled) after the call starts."""

    offset_ms: int
    payload: dict[str, Any]
    idempotency_token: str  # the same on every retry, as Twilio's I-Twilio-Idempotency-Token

    @property
    def event_type(self) -> str:
        return str(self.payload["eventType"])

    @property
    def due(self) -> float:
        """Seconds after the call starts."""
        return self.offset_ms / 1000


@dataclass(frozen=True)
class SimulatedCall:
    demo: DemoCall
    conversation_id: str
    call_sid: str
    customer_id: str
    agent_id: str
    account_sid: str
    start: datetime
    events: tuple[PlannedEvent, ...] = ()

    def hang_up(self, *, after: PlannedEvent) -> PlannedEvent:
        """The closing event of a call stopped early: now, and later than ``after``."""
        offset_ms = (datetime.now(UTC) - self.start) // timedelta(milliseconds=1)
        offset_ms = max(offset_ms, after.offset_ms + 1)
        return _closed(self, self.start + timedelta(milliseconds=offset_ms), offset_ms)


def _fresh(prefix: str) -> str:
    # TTIDs have 26 characters after the prefix; "sim" marks the simulator's own.
    return f"{prefix}_sim{secrets.token_hex(12)[:23]}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Timeline:
    """Moments of the replay: source offsets scaled by ``speed``, each a millisecond or more
    after the previous one, so the portal's version guard (``updatedAt``) keeps them in order
    even at high speed."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start, self.speed, self.last_ms = start, speed, -1

    def scaled(self, source_ms: int) -> datetime:
        return self.start + timedelta(milliseconds=round(source_ms / self.speed))

    def next(self, source_ms: int) -> tuple[datetime, int]:
        self.last_ms = max(round(source_ms / self.speed), self.last_ms + 1)
        return self.start + timedelta(milliseconds=self.last_ms), self.last_ms


def simulated_call(
    demo: DemoCall,
    *,
    start: datetime,
    speed: float = 1.0,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> SimulatedCall:
    """The events of one replay of ``demo`` starting at ``start``, ``speed`` times faster.

    An utterance is sent when it ends, as a transcription is; its ``occurredAt`` is when it began.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    call = SimulatedCall(
        demo=demo,
        conversation_id=_fresh("conv_conversation"),
        call_sid="CA" + secrets.token_hex(16),
        customer_id=_fresh("conv_participant"),
        agent_id=_fresh("conv_participant"),
        account_sid=account_sid,
        start=start,
    )
    timeline = _Timeline(start, speed)
    events = [
        _conversation_created(call, *timeline.next(0)),
        _participant_added(call, "caller", *timeline.next(0)),
        _participant_added(call, "agent", *timeline.next(0)),
    ]
    spoken = sorted(
        (s for s in demo.segments if s.text), key=lambda s: (s.start_ms + s.duration_ms, s.index)
    )
    for segment in spoken:
        at, offset_ms = timeline.next(segment.start_ms + segment.duration_ms)
        occurred = timeline.scaled(segment.start_ms)
        events.append(_communication_created(call, segment, at, offset_ms, occurred=occurred))
    events.append(_closed(call, *timeline.next(demo.end_time_ms - demo.start_time_ms)))
    return replace(call, events=tuple(events))


def _event(event_type: str, at: datetime, offset_ms: int, data: dict[str, Any]) -> PlannedEvent:
    return PlannedEvent(
        offset_ms=offset_ms,
        payload={"eventType": event_type, "timestamp": _iso(at), "data": data},
        idempotency_token=str(uuid.uuid4()),
    )


def _conversation(call: SimulatedCall, *, status: str, at: datetime) -> dict[str, Any]:
    return {
        "id": call.conversation_id,
        "accountId": call.account_sid,
        "configurationId": CONFIGURATION_ID,
        "status": status,
        "name": None,
        "createdAt": _iso(call.start),
        "updatedAt": _iso(at),
    }


def _conversation_created(call: SimulatedCall, at: datetime, offset_ms: int) -> PlannedEvent:
    data = _conversation(call, status="ACTIVE", at=at)
    return _event("CONVERSATION_CREATED", at, offset_ms, data)


def _closed(call: SimulatedCall, at: datetime, offset_ms: int) -> PlannedEvent:
    data = _conversation(call, status="CLOSED", at=at)
    return _event("CONVERSATION_UPDATED", at, offset_ms, data)


def _address(call: SimulatedCall, role: str) -> str:
    return call.demo.caller_address if role == "caller" else CONTACT_CENTER_NUMBER


def _participant_id(call: SimulatedCall, role: str) -> str:
    return call.customer_id if role == "caller" else call.agent_id


def _participant_added(
    call: SimulatedCall, role: str, at: datetime, offset_ms: int
) -> PlannedEvent:
    customer = role == "caller"
    data = {
        "id": _participant_id(call, role),
        "conversationId": call.conversation_id,
        "accountId": call.account_sid,
        "name": call.demo.caller_name if customer else call.demo.agent_name,
        "type": "CUSTOMER" if customer else "HUMAN_AGENT",
        "profileId": None,
        "addresses": [
            {"channel": "VOICE", "address": _address(call, role), "channelId": call.call_sid}
        ],
        "createdAt": _iso(at),
        "updatedAt": _iso(at),
    }
    return _event("PARTICIPANT_ADDED", at, offset_ms, data)


def _communication_created(
    call: SimulatedCall,
    segment: DemoSegment,
    at: datetime,
    offset_ms: int,
    *,
    occurred: datetime,
) -> PlannedEvent:
    other = "agent" if segment.role == "caller" else "caller"
    data = {
        "id": _fresh("conv_communication"),
        "conversationId": call.conversation_id,
        "accountId": call.account_sid,
        "author": {
            "address": _address(call, segment.role),
            "channel": "VOICE",
            "participantId": _participant_id(call, segment.role),
        },
        "recipients": [
            {
                "address": _address(call, other),
                "channel": "VOICE",
                "participantId": _participant_id(call, other),
                "deliveryStatus": "DELIVERED",
            }
        ],
        "content": {
            "type": "TRANSCRIPTION",
            "text": segment.text,
            # Twilio's convention: channel 0 is the inbound leg (the caller), 1 the outbound.
            "transcription": {
                "channel": 0 if segment.role == "caller" else 1,
                "engine": TRANSCRIPTION_ENGINE,
            },
        },
        "channelId": call.call_sid,
        "occurredAt": _iso(occurred),
        "createdAt": _iso(at),
        "updatedAt": _iso(at),
    }
    return _event("COMMUNICATION_CREATED", at, offset_ms, data)


# ---- signing and sending --------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    url: str  # the full URL that was signed, ``?bodySHA256=`` included
    body: bytes
    headers: dict[str, str]


def sign(event: PlannedEvent, *, base_url: str, token: str) -> SignedRequest:
    """The request Twilio would send: JSON body, its SHA-256 in the URL, the URL signed (§6.1)."""
    body = json.dumps(event.payload, separators=(",", ":"))
    validator = RequestValidator(token)
    url = (
        f"{base_url.rstrip('/')}{ORCHESTRATOR_PATH}?"
        f"{urlencode({'bodySHA256': validator.compute_hash(body)})}"
    )
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Signature": validator.compute_signature(url, {}),
        "I-Twilio-Idempotency-Token": event.idempotency_token,
        "User-Agent": USER_AGENT,
    }
    return SignedRequest(url=url, body=body.encode(), headers=headers)


class _Fatal(SimulatorError):
    """Stops every worker: nothing more can be delivered."""


# ---- the run --------------------------------------------------------------------------------


@dataclass
class Summary:
    calls_started: int = 0
    calls_finished: int = 0
    calls_hung_up: int = 0
    sent: int = 0
    acknowledged: int = 0  # 2xx answers, duplicates included
    duplicates: int = 0
    errors: int = 0
    retries: int = 0
    elapsed: float = 0.0
    failure: str = ""  # why the run stopped early, if it did
    interrupted: bool = False

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.calls_finished} calls finished"
            + (f", {self.calls_hung_up} hung up early" if self.calls_hung_up else "")
            + f"; {self.sent} events sent, {self.acknowledged} acknowledged "
            f"({self.duplicates} duplicates), {self.errors} errors, {self.retries} retries "
            f"in {self.elapsed:.1f} s ({self.rate:.0f} events/s)"
        )


@dataclass
class _Run:
    base_url: str
    credentials: Credentials
    speed: float
    out: Callable[[str], None]
    retries: int
    summary: Summary = field(default_factory=Summary)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)  # hang up, then stop
    aborted: threading.Event = field(default_factory=threading.Event)  # stop sending at once

    def count(self, **increments: int) -> None:
        with self.lock:
            for name, value in increments.items():
                setattr(self.summary, name, getattr(self.summary, name) + value)

    def say(self, line: str) -> None:
        with self.lock:
            self.out(line)

    def fail(self, message: str) -> None:
        with self.lock:
            if not self.summary.failure:
                self.summary.failure = message
        self.aborted.set()
        self.stopping.set()


def simulate(
    *,
    base_url: str,
    credentials: Credentials,
    calls: Sequence[DemoCall],
    total: int | None = 10,
    concurrency: int = 3,
    speed: float = 1.0,
    seed: int | None = None,
    out: Callable[[str], None] = print,
    retries: int = RETRIES,
) -> Summary:
    """Replay ``total`` calls (``None``: until interrupted), ``concurrency`` at once.

    Calls are drawn from ``calls`` in a shuffled order (``seed`` makes it repeatable), each one
    once before any repeats. Ctrl+C (KeyboardInterrupt) hangs up the calls in progress, i.e.
    closes their conversations, and returns. Raises nothing for delivery problems: they are in
    the summary, with ``failure`` set when the run had to stop.
    """
    if not calls:
        raise SimulatorError("There are no demo calls to replay.")
    if concurrency < 1 or (total is not None and total < 1) or speed <= 0:
        raise SimulatorError("--calls and --concurrency must be at least 1, --speed above 0.")
    run = _Run(base_url, credentials, speed, out, retries)
    plan = _numbered(_deck(calls, random.Random(seed)), total)
    plan_lock = threading.Lock()

    def next_call() -> tuple[int, DemoCall] | None:
        with plan_lock:
            return None if run.stopping.is_set() else next(plan, None)

    started = time.monotonic()
    workers = [
        threading.Thread(target=_worker, args=(run, next_call), name=f"sim-{n}", daemon=True)
        for n in range(min(concurrency, total or concurrency))
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(timeout=0.2)
    except KeyboardInterrupt:
        run.summary.interrupted = True
        run.stopping.set()
        _await_hang_ups(workers, seconds=TIMEOUT_SECONDS * 2)
    run.summary.elapsed = time.monotonic() - started
    return run.summary


def _await_hang_ups(workers: Sequence[threading.Thread], *, seconds: float) -> None:
    """Give the workers time to close their calls; a second Ctrl+C (or SIGTERM) must not cut
    that short with a traceback, and a worker stuck on a dead portal must not hold the exit."""
    deadline = time.monotonic() + seconds
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        try:
            for worker in workers:
                worker.join(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
        except KeyboardInterrupt:
            continue


def _deck(calls: Sequence[DemoCall], rng: random.Random) -> Iterator[DemoCall]:
    while True:
        deck = list(calls)
        rng.shuffle(deck)
        yield from deck


def _numbered(calls: Iterator[DemoCall], total: int | None) -> Iterator[tuple[int, DemoCall]]:
    return enumerate(itertools.islice(calls, total), start=1)


def _worker(run: _Run, next_call: Callable[[], tuple[int, DemoCall] | None]) -> None:
    sender = Sender(run.base_url)
    try:
        while (item := next_call()) is not None:
            _play(run, sender, *item)
    except _Fatal as exc:
        run.fail(str(exc))
    except Exception as exc:  # a bug must not leave the other workers waiting forever
        run.fail(f"Simulator worker crashed: {exc.__class__.__name__}: {exc}")
        raise
    finally:
        sender.close()


def _play(run: _Run, sender: Sender, number: int, demo: DemoCall) -> None:
    call = simulated_call(
        demo, start=datetime.now(UTC), speed=run.speed, account_sid=run.credentials.account_sid
    )
    clock = time.monotonic()
    utterances = len(call.events) - 4
    run.count(calls_started=1)
    run.say(
        f"call {number} started: {call.conversation_id} {call.call_sid} "
        f"({demo.agent_name} with {demo.caller_name}, {demo.task_type or 'no task'}, "
        f"{utterances} utterances over {call.events[-1].due:.1f} s)"
    )
    errors = 0
    for sent, event in enumerate(call.events):
        delay = clock + event.due - time.monotonic()
        if delay > 0:
            run.stopping.wait(delay)
        if run.stopping.is_set():
            if run.aborted.is_set() or sent == 0:
                return
            # Stopped by the user: close the conversation now rather than leave it open forever.
            _deliver(run, sender, call.hang_up(after=call.events[sent - 1]))
            run.count(calls_hung_up=1)
            run.say(f"call {number} hung up: {call.conversation_id} after {sent} events")
            return
        errors += _deliver(run, sender, event)
    run.count(calls_finished=1)
    run.say(
        f"call {number} finished: {call.conversation_id} closed, {len(call.events)} events "
        f"in {time.monotonic() - clock:.1f} s" + (f", {errors} errors" if errors else "")
    )


def _deliver(run: _Run, sender: Sender, event: PlannedEvent) -> int:
    """Send one event, retrying connection errors, 429 and 5xx; return 1 if it failed, else 0.

    Raises ``_Fatal`` when nothing more can be delivered: bad signature, wrong URL, no portal.
    """
    request = sign(event, base_url=run.base_url, token=run.credentials.token)
    run.count(sent=1)
    unreachable, problem = False, ""
    for attempt in range(run.retries + 1):
        if attempt:
            run.count(retries=1)
            if run.aborted.wait(min(BACKOFF_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS)):
                return 1
        try:
            answer = sender.post(request)
        except Retryable as exc:
            unreachable, problem = True, str(exc)
            continue
        unreachable = False
        if 200 <= answer.status < 300:
            duplicate = answer.body.get("status") == "duplicate"
            run.count(acknowledged=1, duplicates=int(duplicate))
            return 0
        message = str(answer.body.get("error") or answer.body or "")
        if answer.status == 403:
            raise _Fatal(
                f"The portal at {run.base_url} rejected the Twilio signature (403: {message}). "
                "Set TWILIO_AUTH_TOKENS to the same value for the portal and for simulate_calls "
                "(or pass --token), and make sure --url is the portal's PUBLIC_BASE_URL: the "
                "signature covers the URL."
            )
        if answer.status in (404, 405):
            raise _Fatal(
                f"{request.url.split('?')[0]} answered {answer.status}: "
                "is --url the address of a ccportal?"
            )
        problem = f"HTTP {answer.status}: {message}"
        if answer.status != 429 and answer.status < 500:
            break  # the portal refused this event; sending it again changes nothing
    if unreachable:
        raise _Fatal(
            f"Cannot reach the portal at {run.base_url} ({problem}) after {run.retries + 1} "
            "attempts. Is it running (make run)? Otherwise pass --url."
        )
    run.count(errors=1)
    run.say(f"  {event.event_type} {event.payload['data']['id']} failed: {problem}")
    return 1
