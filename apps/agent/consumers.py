"""The ConversationRelay WebSocket of the reference virtual agent (twilio-wire §4.2, §4.3).

Thin: it checks Twilio's signature of the upgrade, parses and dispatches Twilio's messages,
streams the dialog's replies as ``text`` tokens and measures them; what to say is
``services.dialog`` and what is stored is ``services.sessions``. One socket is one call: the
dialog state lives on the consumer. Replies stream in a task of their own, so an ``interrupt``
(or a new final prompt) stops them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from apps.knowledge.selectors import KnowledgeHit, published_articles
from apps.webhooks.signature import verify_websocket

from .services import sessions
from .services.dialog import Dialog, Handoff, Reply

logger = logging.getLogger(__name__)


class _Knowledge:
    """The published articles, read at most every VIRTUAL_AGENT_KNOWLEDGE_SECONDS per process.

    The agent ranks them in memory (``dialog.best_article``): a turn then waits for no
    database query, which under load queue behind every other socket's writes on Channels'
    one database thread (50 calls: p50 37 ms with a full-text query per turn, see
    docs/benchmarks.md)."""

    articles: list[KnowledgeHit] = []
    loaded: float | None = None

    @classmethod
    async def get(cls) -> list[KnowledgeHit]:
        now = time.monotonic()
        ttl = settings.VIRTUAL_AGENT_KNOWLEDGE_SECONDS
        if cls.loaded is None or now - cls.loaded >= ttl:
            cls.articles = await database_sync_to_async(published_articles)()
            cls.loaded = now
        return cls.articles


@dataclass
class Turn:
    """A caller turn being answered: the measurements of its reply's stream."""

    index: int
    prompt: str
    received: float  # perf_counter when the final prompt arrived
    prompted_at: Any
    reply: Reply | None = None
    first_token_ms: float | None = None
    first_helpful_ms: float | None = None
    tokens_sent: int = 0
    streamed: bool = False  # every token sent: an interrupt no longer stops anything
    interrupted: bool = False
    heard: str = ""
    interrupted_after_ms: int | None = None

    def record(self) -> sessions.TurnRecord:
        reply = self.reply
        return sessions.TurnRecord(
            index=self.index,
            prompt=self.prompt,
            reply=reply.text if reply else "",
            prompted_at=self.prompted_at,
            article_id=reply.article_id if reply else None,
            article_title=reply.article_title if reply else "",
            first_token_ms=self.first_token_ms,
            first_helpful_ms=self.first_helpful_ms,
            tokens_sent=self.tokens_sent,
            interrupted=self.interrupted,
            heard=self.heard,
            interrupted_after_ms=self.interrupted_after_ms,
            handoff=bool(reply and reply.handoff),
            closing=bool(reply and reply.done),
        )


def _milliseconds(value: Any) -> int | None:
    """``durationUntilInterruptMs`` is a number in one rendition of the docs, a string in
    another: accept both."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


Handler = Callable[["RelayConsumer", dict[str, Any], float], Awaitable[None]]


class RelayConsumer(AsyncWebsocketConsumer):
    """``ws/agent/relay/``: Twilio's ConversationRelay session with the virtual agent."""

    # No channel layer: nothing is sent to a call's socket from elsewhere, and each socket would
    # otherwise hold a Redis connection blocked in BZPOPMIN for its whole call.
    channel_layer_alias = None
    session_pk: int | None = None
    ended: bool = False

    async def connect(self) -> None:
        headers = dict(self.scope.get("headers") or [])
        verdict = verify_websocket(
            path=self.scope["path"],
            query_string=(self.scope.get("query_string") or b"").decode("latin1"),
            signature=headers.get(b"x-twilio-signature", b"").decode("latin1"),
            headers=headers,
            scheme=str(self.scope.get("scheme") or ""),
        )
        if not verdict.valid:
            logger.warning("virtual agent: refused a relay socket: %s", verdict.reason)
            await self.close()  # before accept: the upgrade is refused (HTTP 403)
            return
        self.dialog = Dialog()
        self.turns: list[Turn] = []
        self.speaking: asyncio.Task[None] | None = None
        self.partial = ""
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "dialog"):
            return
        turn = self.turns[-1] if self.turns else None
        if turn is not None and not turn.streamed:
            # The caller hung up mid-reply: stop it and keep what was sent.
            await self._stop_speaking()
            await database_sync_to_async(sessions.turn_record)(
                session_id=self.session_pk, turn=turn.record()
            )
        elif self.speaking is not None:
            await self.speaking  # its tokens are out: let it send ``end`` and record the turn
        if self.session_pk is not None and not self.ended:
            # The caller hung up on the agent: nobody else was needed.
            self.ended = True
            await database_sync_to_async(sessions.session_end)(
                session_id=self.session_pk,
                handoff=None,
                sentiment=self.dialog.caller_sentiment(),
                summary=self.dialog.summary(),
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        received = time.perf_counter()
        try:
            message = json.loads(text_data or "")
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        handler = self.handlers.get(kind) if isinstance(kind, str) else None
        if handler is None or not isinstance(message, dict):
            # Never close for this: the call goes on, and the message is kept in the log.
            logger.warning(
                "virtual agent: ignored a malformed or unknown message (session %s): %.200r",
                self.session_pk,
                text_data if text_data is not None else bytes_data,
            )
            return
        if kind != "setup" and self.session_pk is None:
            logger.warning("virtual agent: %s before setup ignored", kind)
            return
        await handler(self, message, received)

    # ---- Twilio -> agent ---------------------------------------------------------------------

    async def on_setup(self, message: dict[str, Any], received: float) -> None:
        session = await database_sync_to_async(sessions.session_start)(
            session_id=str(message.get("sessionId") or ""),
            call_sid=str(message.get("callSid") or ""),
            account_sid=str(message.get("accountSid") or ""),
            from_number=str(message.get("from") or ""),
            to_number=str(message.get("to") or ""),
        )
        self.session_pk = session.pk
        self.dialog.greet()  # Twilio speaks the welcome greeting of the TwiML

    async def on_prompt(self, message: dict[str, Any], received: float) -> None:
        text = str(message.get("voicePrompt") or "")
        if message.get("last") is False:
            self.partial = text  # partial prompts: the final one repeats the whole turn
            return
        self.partial = ""
        if self.ended or not text.strip():
            return
        await self._interrupted(heard=None, after_ms=None)  # the caller spoke over the agent
        turn = Turn(
            index=len(self.turns), prompt=text, received=received, prompted_at=timezone.now()
        )
        self.turns.append(turn)
        articles = await _Knowledge.get()
        # Pure and fast (in-memory ranking, VADER on a handoff): on the loop, no thread hop.
        turn.reply = self.dialog.respond(text, lambda _prompt: articles)
        await self._start_speaking(turn, turn.reply)

    async def on_interrupt(self, message: dict[str, Any], received: float) -> None:
        await self._interrupted(
            heard=str(message.get("utteranceUntilInterrupt") or ""),
            after_ms=_milliseconds(message.get("durationUntilInterruptMs")),
        )

    async def on_dtmf(self, message: dict[str, Any], received: float) -> None:
        digit = str(message.get("digit") or "")[:1]
        if not digit or self.ended or self.session_pk is None:
            return
        await database_sync_to_async(sessions.session_note_digit)(
            session_id=self.session_pk, digit=digit
        )
        reply = self.dialog.pressed(digit)
        if reply is None:
            return
        await self._interrupted(heard=None, after_ms=None)
        turn = Turn(
            index=len(self.turns),
            prompt=f"[pressed {digit}]",
            received=received,
            prompted_at=timezone.now(),
            reply=reply,
        )
        self.turns.append(turn)
        await self._start_speaking(turn, reply)

    async def on_error(self, message: dict[str, Any], received: float) -> None:
        description = str(message.get("description") or "")
        logger.warning(
            "virtual agent: Twilio reported an error (session %s): %s",
            self.session_pk,
            description[:200],
        )
        if self.session_pk is not None:
            await database_sync_to_async(sessions.session_note_error)(
                session_id=self.session_pk, description=description
            )

    handlers: dict[str, Handler] = {
        "setup": on_setup,
        "prompt": on_prompt,
        "interrupt": on_interrupt,
        "dtmf": on_dtmf,
        "error": on_error,
    }

    # ---- agent -> Twilio ---------------------------------------------------------------------

    async def _start_speaking(self, turn: Turn, reply: Reply) -> None:
        """Send the reply's first token now, the rest from a task of its own: a task starts
        only after every other callback ready on the loop, which under load was most of the
        time to the first token (docs/benchmarks.md)."""
        await self._send_token(turn, reply, 0)
        self.speaking = asyncio.create_task(self._speak(turn, reply))

    async def _send_token(self, turn: Turn, reply: Reply, position: int) -> None:
        tokens = reply.tokens()
        last = position == len(tokens) - 1
        await self.send(json.dumps({"type": "text", "token": tokens[position], "last": last}))
        turn.tokens_sent += 1
        elapsed = (time.perf_counter() - turn.received) * 1000
        if turn.first_token_ms is None:
            turn.first_token_ms = round(elapsed, 3)
        if reply.helpful_from == position:
            turn.first_helpful_ms = round(elapsed, 3)

    async def _speak(self, turn: Turn, reply: Reply) -> None:
        """The reply after its first token; an interrupt cancels it between two tokens."""
        pace = settings.VIRTUAL_AGENT_TOKEN_PACE_MS / 1000
        for position in range(1, len(reply.tokens())):
            await asyncio.sleep(pace)  # also the point where an interrupt cancels us
            await self._send_token(turn, reply, position)
        turn.streamed = True
        if reply.handoff is not None:
            await self._end(reply.handoff)
        await database_sync_to_async(sessions.turn_record)(
            session_id=self.session_pk, turn=turn.record()
        )

    async def _end(self, handoff: Handoff) -> None:
        self.ended = True
        await self.send(json.dumps({"type": "end", "handoffData": handoff.handoff_data()}))
        await database_sync_to_async(sessions.session_end)(
            session_id=self.session_pk,
            handoff=handoff,
            sentiment=handoff.sentiment,
            summary=handoff.summary,
        )

    async def _stop_speaking(self) -> bool:
        """Cancel a reply still streaming; True if one was."""
        task, self.speaking = self.speaking, None
        if task is None or task.done():
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def _interrupted(self, *, heard: str | None, after_ms: int | None) -> None:
        """Stop the reply at once and record the interruption on its turn. ``heard`` None: a
        new final prompt came while the agent still streamed (Twilio sent no interrupt)."""
        turn = self.turns[-1] if self.turns else None
        was_streaming = bool(turn and not turn.streamed) and await self._stop_speaking()
        if turn is None or turn.interrupted or (heard is None and not was_streaming):
            return
        if turn.reply is not None and turn.reply.handoff is not None and turn.streamed:
            return  # the handoff is on its way: the caller talking over "one moment" is moot
        turn.interrupted = True
        turn.heard = heard if heard is not None else ""
        turn.interrupted_after_ms = after_ms
        if heard is not None:
            self.dialog.heard_until(heard)
        if turn.reply is not None and turn.reply.handoff is not None and not turn.streamed:
            # Cut off while handing over: hand over all the same (the caller wants a person
            # or the agent cannot help; stopping mid-sentence changes neither).
            await self._end(turn.reply.handoff)
        await database_sync_to_async(sessions.turn_record)(
            session_id=self.session_pk, turn=turn.record()
        )
