"""Twilio's side of a virtual-agent call: a Harper Valley caller over ConversationRelay.

Plain Python, no ORM. A caller plays one recorded call against the virtual agent's socket as
Twilio would (twilio-wire §4): ``setup``, the caller's request as partial then final prompts,
sometimes an ``interrupt`` over the agent's answer, then either thanks (the agent contained
the call; the caller hangs up) or a request for a person (the agent sends ``end`` with
``handoffData``). Then what Twilio does after the session: the signed ``<Connect action>``
callback with ``HandoffData``, and the Conversation Orchestrator events of the whole call: the
customer, the AI_AGENT and its turns, then (handed off) the HUMAN_AGENT and the recording's own
human part. The socket is anything with ``send``/``receive`` of text (``RelaySocket``): the
tests use Channels' communicator, the command a real WebSocket client.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

from apps.intelligence.nlp.text import clean, content_words

from .dataset import DemoCall
from .sender import Retryable, Sender
from .simulator import (
    CONTACT_CENTER_NUMBER,
    DEFAULT_ACCOUNT_SID,
    USER_AGENT,
    PlannedEvent,
    SignedRequest,
    _event,
    _fresh,
    _iso,
    sign,
)

RELAY_SOCKET_PATH = "/ws/agent/relay/"
RELAY_ACTION_PATH = "/webhooks/twilio/relay-action"
AI_AGENT_NAME = "Harper Valley assistant"
THANKS = "okay thank you that's all"
ASK_FOR_PERSON = "can I talk to a person please"
RECEIVE_TIMEOUT = 10.0
# After an interrupt: no token for this long means the agent stopped its reply.
QUIET_SECONDS = 0.3


# "hi my name is jennifer rodriguez", "uhm this is john brown": an introduction, not yet
# what the caller wants.
_INTRODUCTION_RE = re.compile(
    r"^\W*(?:(?:hi|hello|hey|yes|yeah|okay|ok|oh|uh|uhm|um|umm|hmm)\W+)*"
    r"(?:my name is|this is|i'm|i am)\s+\w+(?:\s+\w+)?",
    re.IGNORECASE,
)


class RelaySocket(Protocol):
    async def send(self, text: str) -> None: ...

    async def receive(self, timeout: float) -> str | None:
        """The next text message; None when the agent closed the socket; raises
        ``TimeoutError`` when nothing came within ``timeout`` seconds."""
        ...


class CallerError(Exception):
    """The agent did not behave as ConversationRelay expects (the message says how)."""


@dataclass(frozen=True)
class CallerPlan:
    request: str
    ask_for_person: bool
    interrupt: bool


def caller_plan(call: DemoCall) -> CallerPlan | None:
    """What this recording's caller says to the agent (None: no request worth asking).

    Deterministic from the recording's id: about half ask for a person after the answer, and
    a third talk over the agent's first answer."""
    request = next(
        (
            clean(s.text)
            for s in call.segments
            if s.role == "caller" and len(content_words(_INTRODUCTION_RE.sub("", s.text))) >= 2
        ),
        None,
    )
    if request is None:
        return None
    digest = hashlib.sha256(f"relay-caller:{call.sid}".encode()).digest()
    return CallerPlan(request, ask_for_person=digest[0] % 2 == 0, interrupt=digest[1] % 3 == 0)


@dataclass
class CallerResult:
    """What happened on the socket, as Twilio saw it."""

    call_sid: str
    session_id: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # ("customer"|"ai", text)
    handoff_data: str | None = None
    interrupted: bool = False
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None

    @property
    def handed_off(self) -> bool:
        return self.handoff_data is not None


def setup_message(
    *, call_sid: str, session_id: str, caller: str, account_sid: str = DEFAULT_ACCOUNT_SID
) -> dict[str, Any]:
    return {
        "type": "setup",
        "sessionId": session_id,
        "accountSid": account_sid,
        "callSid": call_sid,
        "parentCallSid": "",
        "from": caller,
        "to": CONTACT_CENTER_NUMBER,
        "forwardedFrom": "",
        "callerName": "",
        "direction": "inbound",
        "callType": "PSTN",
        "callStatus": "RINGING",
        "customParameters": {},
    }


async def _reply(socket: RelaySocket, result: CallerResult, *, interrupt: bool) -> bool:
    """Read one reply up to ``last`` (or after its first token, talk over it); True when the
    agent sent ``end`` after it."""
    tokens: list[str] = []
    while True:
        raw = await socket.receive(RECEIVE_TIMEOUT)
        if raw is None:
            raise CallerError("the agent closed the socket mid-reply")
        message = json.loads(raw)
        if message.get("type") == "end":
            result.handoff_data = str(message.get("handoffData") or "")
            result.lines.append(("ai", "".join(tokens).strip()))
            return True
        if message.get("type") != "text":
            continue
        tokens.append(str(message.get("token", "")))
        if interrupt and not message.get("last"):
            heard = "".join(tokens).strip()
            await socket.send(
                json.dumps(
                    {
                        "type": "interrupt",
                        "utteranceUntilInterrupt": heard,
                        "durationUntilInterruptMs": 300 * len(tokens),
                    }
                )
            )
            result.interrupted = True
            result.lines.append(("ai", heard))
            return await _discard_rest(socket, result)
        if message.get("last"):
            result.lines.append(("ai", "".join(tokens).strip()))
            # A handoff's ``end`` follows its last token at once.
            return False


async def _discard_rest(socket: RelaySocket, result: CallerResult) -> bool:
    """After an interrupt Twilio drops what it had of the reply and not yet spoken: read the
    tokens that were already on their way until the reply's ``last`` or a quiet moment. True
    when the agent sent ``end`` meanwhile (it was handing over)."""
    while True:
        try:
            raw = await socket.receive(QUIET_SECONDS)
        except TimeoutError:
            return False
        if raw is None:
            return False
        message = json.loads(raw)
        if message.get("type") == "end":
            result.handoff_data = str(message.get("handoffData") or "")
            return True
        if message.get("type") == "text" and message.get("last"):
            return False


async def _say(socket: RelaySocket, result: CallerResult, text: str) -> None:
    words = text.split()
    half = " ".join(words[: max(1, len(words) // 2)])
    for prompt, last in ((half, False), (text, True)):
        await socket.send(
            json.dumps({"type": "prompt", "voicePrompt": prompt, "lang": "en-US", "last": last})
        )
    result.lines.append(("customer", text))


async def _end_or_nothing(socket: RelaySocket, result: CallerResult) -> None:
    raw = await socket.receive(RECEIVE_TIMEOUT)
    if raw is None:
        return
    message = json.loads(raw)
    if message.get("type") == "end":
        result.handoff_data = str(message.get("handoffData") or "")


def speaking_seconds(text: str, pace: float) -> float:
    """How long saying ``text`` takes at ``pace`` seconds a word (0: no time at all)."""
    return pace * len(text.split())


async def play_caller(
    socket: RelaySocket,
    plan: CallerPlan,
    *,
    caller: str,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    call_sid: str | None = None,
    pace: float = 0.0,
    on_line: Callable[[str, str], Awaitable[None]] | None = None,
) -> CallerResult:
    """One call with the agent over an open, signed ``socket``; the caller hangs up (the caller
    closes the socket) when the agent ends the session or answered the last turn.

    ``pace`` is the speaking time of a word, in seconds, for both sides (0 in tests: no waiting);
    ``on_line(who, text)`` hears each line once it has been said ("customer" or "ai")."""
    result = CallerResult(
        call_sid=call_sid or "CA" + secrets.token_hex(16), session_id="VX" + secrets.token_hex(16)
    )
    await socket.send(
        json.dumps(
            setup_message(
                call_sid=result.call_sid,
                session_id=result.session_id,
                caller=caller,
                account_sid=account_sid,
            )
        )
    )
    heard = 0

    async def tell() -> None:
        nonlocal heard
        for who, text in result.lines[heard:]:
            if on_line is not None and text:
                await on_line(who, text)
        heard = len(result.lines)

    turns = [(plan.request, plan.interrupt)]
    if plan.interrupt:
        turns.append(("sorry, go on, " + plan.request, False))
    turns.append((ASK_FOR_PERSON if plan.ask_for_person else THANKS, False))
    for text, interrupt in turns:
        await asyncio.sleep(speaking_seconds(text, pace))  # Twilio prompts once the caller paused
        await _say(socket, result, text)
        await tell()
        handed_off = await _reply(socket, result, interrupt=interrupt)
        await tell()
        if handed_off:
            break
        if text == ASK_FOR_PERSON:
            await _end_or_nothing(socket, result)
            break
        if not interrupt:
            await asyncio.sleep(speaking_seconds(result.lines[-1][1], pace))  # the answer, spoken
    result.ended = datetime.now(UTC)
    return result


# ---- after the session: the action callback and the Orchestrator events ---------------------


def action_params(
    result: CallerResult, *, caller: str, account_sid: str = DEFAULT_ACCOUNT_SID
) -> dict[str, str]:
    """The ``<Connect action>`` callback's form, as Twilio posts it (twilio-wire §4.4)."""
    ended = result.ended or datetime.now(UTC)
    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": result.call_sid,
        "CallStatus": "in-progress" if result.handed_off else "completed",
        "Direction": "inbound",
        "From": caller,
        "To": CONTACT_CENTER_NUMBER,
        "SessionId": result.session_id,
        "SessionStatus": "ended" if result.handed_off else "completed",
        "SessionDuration": str(max(1, round((ended - result.started).total_seconds()))),
    }
    if result.handoff_data is not None:
        params["HandoffData"] = result.handoff_data
    return params


def sign_form(*, base_url: str, path: str, params: dict[str, str], token: str) -> SignedRequest:
    url = base_url.rstrip("/") + path
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params),
        "User-Agent": USER_AGENT,
    }
    return SignedRequest(url=url, body=urlencode(params).encode(), headers=headers)


def socket_signature(*, base_url: str, token: str) -> tuple[str, str]:
    """The wss:// URL of the agent's socket under ``base_url`` and Twilio's signature of it."""
    scheme, _, rest = base_url.rstrip("/").partition("://")
    url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{RELAY_SOCKET_PATH}"
    return url, RequestValidator(token).compute_signature(url, {})


class CallEvents:
    """The Conversation Orchestrator events of one AI -> human call, each built when asked and
    dated as told: the conversation with its customer and AI_AGENT, what each side said (to the
    AI agent until the HUMAN_AGENT joins, to the human after), and the conversation closed."""

    def __init__(self, demo: DemoCall, *, call_sid: str, start: datetime, account_sid: str) -> None:
        self.demo = demo
        self.call_sid = call_sid
        self.start = start
        self.account_sid = account_sid
        self.conversation_id = _fresh("conv_conversation")
        self.customer = _fresh("conv_participant")
        self.ai = _fresh("conv_participant")
        self.human = _fresh("conv_participant")
        self._agent = self.ai

    def _conversation(self, status: str, at: datetime) -> dict[str, Any]:
        return {
            "id": self.conversation_id,
            "accountId": self.account_sid,
            "configurationId": "conv_configuration_simulator00000000000000",
            "status": status,
            "name": None,
            "createdAt": _iso(self.start),
            "updatedAt": _iso(at),
        }

    def _participant(
        self, pid: str, kind: str, name: str, address: str, at: datetime
    ) -> PlannedEvent:
        data = {
            "id": pid,
            "conversationId": self.conversation_id,
            "accountId": self.account_sid,
            "name": name,
            "type": kind,
            "profileId": None,
            "addresses": [{"channel": "VOICE", "address": address, "channelId": self.call_sid}],
            "createdAt": _iso(at),
            "updatedAt": _iso(at),
        }
        return _event("PARTICIPANT_ADDED", at, 0, data)

    def created(self) -> PlannedEvent:
        return _event(
            "CONVERSATION_CREATED", self.start, 0, self._conversation("ACTIVE", self.start)
        )

    def customer_joins(self, at: datetime) -> PlannedEvent:
        return self._participant(
            self.customer, "CUSTOMER", self.demo.caller_name, self.demo.caller_address, at
        )

    def ai_joins(self, at: datetime) -> PlannedEvent:
        return self._participant(self.ai, "AI_AGENT", AI_AGENT_NAME, CONTACT_CENTER_NUMBER, at)

    def human_joins(self, at: datetime) -> PlannedEvent:
        self._agent = self.human
        return self._participant(
            self.human, "HUMAN_AGENT", self.demo.agent_name, CONTACT_CENTER_NUMBER, at
        )

    def said(self, by_customer: bool, text: str, at: datetime) -> PlannedEvent:
        """A line of the customer (to whichever agent is on the call) or of that agent."""
        author, other = (
            (self.customer, self._agent) if by_customer else (self._agent, self.customer)
        )
        data = {
            "id": _fresh("conv_communication"),
            "conversationId": self.conversation_id,
            "accountId": self.account_sid,
            "author": {"channel": "VOICE", "participantId": author, "address": ""},
            "recipients": [
                {"channel": "VOICE", "participantId": other, "deliveryStatus": "DELIVERED"}
            ],
            "content": {
                "type": "TRANSCRIPTION",
                "text": text,
                "transcription": {
                    "channel": 0 if by_customer else 1,
                    "engine": "conversation-relay",
                },
            },
            "channelId": self.call_sid,
            "occurredAt": _iso(at),
            "createdAt": _iso(at),
            "updatedAt": _iso(at),
        }
        return _event("COMMUNICATION_CREATED", at, 0, data)

    def closed(self, at: datetime) -> PlannedEvent:
        return _event("CONVERSATION_UPDATED", at, 0, self._conversation("CLOSED", at))


def orchestrator_events(
    result: CallerResult, demo: DemoCall, *, account_sid: str = DEFAULT_ACCOUNT_SID
) -> tuple[list[PlannedEvent], list[PlannedEvent]]:
    """All the Conversation Orchestrator events of a call already played, at once: the
    customer and the AI_AGENT from the start, the agent's and the caller's turns, then (handed
    off) the HUMAN_AGENT and the rest of the recording, and the conversation closed. Two lists:
    the events Twilio sends during the agent's session (before the ``<Connect action>``
    callback), and after it. A second per line, ending by now (no event dated in the future)."""
    lines = len(result.lines) + (len(demo.segments) if result.handed_off else 0)
    start = min(result.started, datetime.now(UTC) - timedelta(seconds=lines + 5))
    clock = [start]

    def tick() -> datetime:
        clock[0] += timedelta(seconds=1)
        return clock[0]

    call = CallEvents(demo, call_sid=result.call_sid, start=start, account_sid=account_sid)
    events = [call.created(), call.customer_joins(tick()), call.ai_joins(tick())]
    events += [call.said(who == "customer", text, tick()) for who, text in result.lines if text]
    during = len(events)
    if result.handed_off:
        events.append(call.human_joins(tick()))
        events += [
            call.said(segment.role == "caller", segment.text, tick())
            for segment in demo.segments
            if segment.text
        ]
    events.append(call.closed(tick()))
    return events[:during], events[during:]


# ---- the run against a live portal (manage.py simulate_calls --virtual-agent) ----------------


class _AiohttpSocket:
    """``RelaySocket`` over an aiohttp WebSocket client (a real socket to a running portal)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def receive(self, timeout: float) -> str | None:
        message = await self.ws.receive(timeout=timeout)  # raises TimeoutError
        return str(message.data) if message.type == aiohttp.WSMsgType.TEXT else None


@dataclass
class VirtualSummary:
    calls: int = 0
    handed_off: int = 0
    contained: int = 0
    interrupted: int = 0
    posted: int = 0
    errors: int = 0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.calls} virtual-agent calls: {self.handed_off} handed off, {self.contained} "
            f"contained, {self.interrupted} with an interruption; {self.posted} requests "
            f"posted, {self.errors} errors"
        )


# A word takes about 0.3 s to say (200 words a minute), for the caller and the agent's voice.
WORD_SECONDS = 0.3


class _Poster:
    """Signed POSTs to the portal, one after another, retried on connection errors; counted in
    ``summary``. Each event is dated when it is sent, a millisecond after the one before."""

    def __init__(self, base_url: str, token: str, summary: VirtualSummary) -> None:
        self.base_url = base_url
        self.token = token
        self.summary = summary
        self.sender = Sender(base_url)
        self.last = datetime.now(UTC) - timedelta(seconds=1)

    def now(self) -> datetime:
        self.last = max(datetime.now(UTC), self.last + timedelta(milliseconds=1))
        return self.last

    def event(self, event: PlannedEvent) -> None:
        self.request(sign(event, base_url=self.base_url, token=self.token))

    def request(self, request: SignedRequest) -> None:
        for _attempt in range(4):
            try:
                answer = self.sender.post(request)
            except Retryable:
                continue
            self.summary.posted += 1
            if not 200 <= answer.status < 300:
                self.summary.errors += 1
                self.summary.failures.append(f"{request.url}: HTTP {answer.status}")
            return
        self.summary.errors += 1
        self.summary.failures.append(f"{request.url}: unreachable")


async def _play_live(
    demo: DemoCall, plan: CallerPlan, call: CallEvents, poster: _Poster, *, pace: float
) -> CallerResult:
    url, signature = socket_signature(base_url=poster.base_url, token=poster.token)

    async def post_line(who: str, text: str) -> None:
        await asyncio.to_thread(
            lambda: poster.event(call.said(who == "customer", text, poster.now()))
        )

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers={"X-Twilio-Signature": signature}) as ws,
    ):
        return await play_caller(
            _AiohttpSocket(ws),
            plan,
            caller=demo.caller_address,
            account_sid=call.account_sid,
            call_sid=call.call_sid,
            pace=pace,
            on_line=post_line,
        )


def virtual_agent_call(
    demo: DemoCall,
    *,
    base_url: str,
    token: str,
    account_sid: str,
    summary: VirtualSummary,
    speed: float = 1.0,
    stop: threading.Event | None = None,
) -> CallerResult | None:
    """One virtual-agent call against a running portal, as it unfolds at Twilio: the
    Orchestrator events of the customer and the AI_AGENT as the call arrives, the caller on the
    signed socket (each line posted as it is said, at ``speed`` times real speech), the signed
    action callback, then (handed off) the HUMAN_AGENT and the recording's human part at its own
    pace, and the conversation closed. ``stop`` cuts the human part short (the call closes)."""
    plan = caller_plan(demo)
    if plan is None:
        return None
    stop = stop or threading.Event()
    poster = _Poster(base_url, token, summary)
    try:
        start = poster.now()
        call = CallEvents(
            demo, call_sid="CA" + secrets.token_hex(16), start=start, account_sid=account_sid
        )
        for event in (
            call.created(),
            call.customer_joins(poster.now()),
            call.ai_joins(poster.now()),
        ):
            poster.event(event)
        try:
            result = asyncio.run(_play_live(demo, plan, call, poster, pace=WORD_SECONDS / speed))
        except BaseException:
            poster.event(call.closed(poster.now()))  # the caller hung up: no call left open
            raise
        summary.calls += 1
        summary.handed_off += int(result.handed_off)
        summary.contained += int(not result.handed_off)
        summary.interrupted += int(result.interrupted)
        poster.request(
            sign_form(
                base_url=base_url,
                path=RELAY_ACTION_PATH,
                params=action_params(result, caller=demo.caller_address, account_sid=account_sid),
                token=token,
            )
        )
        if result.handed_off:
            _play_human_part(call, poster, speed=speed, stop=stop)
        poster.event(call.closed(poster.now()))
    finally:
        poster.sender.close()
    return result


def _play_human_part(
    call: CallEvents, poster: _Poster, *, speed: float, stop: threading.Event
) -> None:
    """The human agent joins and the recording plays at its own timing, ``speed`` times faster."""
    poster.event(call.human_joins(poster.now()))
    # Each line is sent when it ends, as a transcription is (the human-only replay does too).
    spoken = sorted(
        (segment for segment in call.demo.segments if segment.text),
        key=lambda segment: (segment.start_ms + segment.duration_ms, segment.index),
    )
    if not spoken:
        return
    began = time.monotonic()
    first = spoken[0].start_ms
    for segment in spoken:
        ends = segment.start_ms + segment.duration_ms - first
        if stop.wait(max(0.0, began + ends / 1000 / speed - time.monotonic())):
            return
        poster.event(call.said(segment.role == "caller", segment.text, poster.now()))


def simulate_virtual_agent(
    *,
    base_url: str,
    token: str,
    account_sid: str,
    calls: Sequence[DemoCall],
    total: int | None,
    concurrency: int = 1,
    seed: int | None = None,
    pause: float = 0.0,
    speed: float = 1.0,
    stop: threading.Event | None = None,
    out: Callable[[str], None] = print,
) -> VirtualSummary:
    """``total`` virtual-agent calls (None: until ``stop`` is set), ``concurrency`` at once,
    each worker pausing ``pause`` seconds between its calls, speech and the recording's human
    part played ``speed`` times faster than real time."""
    stop = stop or threading.Event()
    summary = VirtualSummary()
    lock = threading.Lock()
    deck = [call for call in calls if caller_plan(call) is not None]
    if not deck:
        raise CallerError("There are no demo calls with a request for the virtual agent.")
    random.Random(seed).shuffle(deck)
    numbers = itertools.count(1)

    def worker() -> None:
        while not stop.is_set():
            with lock:
                number = next(numbers)
            if total is not None and number > total:
                return
            demo = deck[(number - 1) % len(deck)]
            mine = VirtualSummary()
            try:
                result = virtual_agent_call(
                    demo,
                    base_url=base_url,
                    token=token,
                    account_sid=account_sid,
                    summary=mine,
                    speed=speed,
                    stop=stop,
                )
            except (OSError, aiohttp.ClientError, CallerError, TimeoutError) as exc:
                mine.errors += 1
                mine.failures.append(f"virtual-agent call {number}: {exc!r}")
                result = None
            with lock:
                for name in ("calls", "handed_off", "contained", "interrupted", "posted", "errors"):
                    setattr(summary, name, getattr(summary, name) + getattr(mine, name))
                summary.failures += mine.failures
                for failure in mine.failures:
                    out(f"  {failure}")
                if result is not None:
                    out(
                        f"virtual-agent call {number}: {result.call_sid} "
                        + ("handed off" if result.handed_off else "contained")
                        + (", interrupted" if result.interrupted else "")
                    )
            stop.wait(pause)

    threads = [
        threading.Thread(target=worker, name=f"va-{n}", daemon=True) for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)
    except KeyboardInterrupt:
        stop.set()  # calls in progress finish (they take seconds); no new ones start
        for thread in threads:
            thread.join(timeout=RECEIVE_TIMEOUT)
    return summary
