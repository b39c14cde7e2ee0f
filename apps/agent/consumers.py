"""The ConversationRelay WebSocket of the reference virtual agent (twilio-wire §4.2, §4.3).

Thin: it checks Twilio's signature of the upgrade, parses and dispatches Twilio's messages,
streams the dialog's replies as ``text`` tokens and measures them; what to say is
``services.dialog`` and what is stored is ``services.sessions``. One socket is one call: the
dialog state lives on the consumer. Replies stream in a task of their own, so an ``interrupt``
(or a new final prompt) stops them at once.

Two backends (``VIRTUAL_AGENT_BACKEND``): ``offline`` answers from ``dialog`` at once; ``llm``
streams the user's model (``services.model_turn``) token by token as it arrives, after the same
rules (a person asked for, a second correction, DTMF 0). A model that fails hands the caller off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from apps.intelligence.llm import LLMError, settings_from_django
from apps.knowledge.selectors import published_articles
from apps.webhooks.signature import verify_websocket

from .choices import HandoffReason
from .services import sessions
from .services.dialog import NOT_KNOWN, Dialog, Handoff, Reply, retrieve
from .services.model_turn import ModelAnswer, model_turn
from .services.retrieval import Article, KnowledgeIndex

logger = logging.getLogger(__name__)


class _Knowledge:
    """The published articles, read at most every VIRTUAL_AGENT_KNOWLEDGE_SECONDS per process,
    and their retrieval index (``retrieval.KnowledgeIndex``: stems and sentence vectors), built
    once per read.

    A turn then waits for no database query, which under load queue behind every other
    socket's writes on Channels' one database thread (50 calls: p50 37 ms with a full-text query
    per turn, see docs/benchmarks.md), and embeds only the caller's turn. The index is built in
    a worker thread, off the event loop and off the database thread: the first build of a
    process also loads the embedding model (about half a second)."""

    index: KnowledgeIndex | None = None
    loaded: float | None = None

    @classmethod
    async def get(cls) -> KnowledgeIndex:
        now = time.monotonic()
        ttl = settings.VIRTUAL_AGENT_KNOWLEDGE_SECONDS
        if cls.index is None or cls.loaded is None or now - cls.loaded >= ttl:
            articles = await database_sync_to_async(published_articles)()
            cls.index = await asyncio.to_thread(KnowledgeIndex.build, articles)
            cls.loaded = now
        return cls.index


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
    sent: list[str] = field(default_factory=list)  # the tokens sent so far
    article: Article | None = None  # the LLM path: the article its lookup found
    interrupted: bool = False
    heard: str = ""
    interrupted_after_ms: int | None = None

    def record(self) -> sessions.TurnRecord:
        reply = self.reply
        article = self.article
        return sessions.TurnRecord(
            index=self.index,
            prompt=self.prompt,
            reply=reply.text if reply else "".join(self.sent).strip(),
            prompted_at=self.prompted_at,
            article_id=reply.article_id if reply else (article.id if article else None),
            article_title=reply.article_title if reply else (article.title if article else ""),
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
        self.backend = settings.VIRTUAL_AGENT_BACKEND
        self.http: aiohttp.ClientSession | None = None  # the LLM path's, one per call
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
        if self.http is not None:
            await self.http.close()

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
        # While the greeting is spoken: the knowledge and, in a new process, the embedding
        # model (seconds on a busy machine), so the caller's first turn does not wait for them.
        await _Knowledge.get()

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
        if self.backend == "llm":
            ruled = self.dialog.screen(text)
            if ruled is None:
                self.speaking = asyncio.create_task(self._converse(turn))
            else:
                turn.reply = ruled
                await self._start_speaking(turn, ruled)
            return
        knowledge = await _Knowledge.get()
        # Pure and fast (one embedding and in-memory ranking, VADER on a handoff): on the loop,
        # no thread hop.
        turn.reply = self.dialog.respond(text, knowledge)
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
        await self._send_text(
            turn, tokens[position], last=last, helpful=reply.helpful_from == position
        )

    async def _send_text(self, turn: Turn, token: str, *, last: bool, helpful: bool) -> None:
        await self.send(json.dumps({"type": "text", "token": token, "last": last}))
        turn.tokens_sent += 1
        turn.sent.append(token)
        elapsed = (time.perf_counter() - turn.received) * 1000
        if turn.first_token_ms is None:
            turn.first_token_ms = round(elapsed, 3)
        if helpful and turn.first_helpful_ms is None:
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

    async def _converse(self, turn: Turn) -> None:
        """The LLM path: the model's answer streamed as it arrives, then ``last`` (with the
        article cited if the model did not name it) or the handoff. An interrupt cancels this
        task, which closes the model's HTTP response at once."""
        knowledge: KnowledgeIndex | None = None

        def lookup(query: str) -> tuple[Article, str] | None:
            if knowledge is None:
                return None
            found = retrieve(query, knowledge)  # the offline path's ranking, in memory
            if found is not None:
                turn.article = found[0]
            return found

        async def emit(token: str, helpful: bool) -> None:
            await self._send_text(turn, token, last=False, helpful=helpful)

        if self.http is None:
            self.http = aiohttp.ClientSession()
        try:
            knowledge = await _Knowledge.get()
            answer = await model_turn(
                http=self.http,
                settings=settings_from_django(),
                history=self.dialog.chat_history(settings.VIRTUAL_AGENT_LLM_HISTORY_MESSAGES),
                prompt=turn.prompt,
                lookup=lookup,
                emit=emit,
                timeout_seconds=settings.VIRTUAL_AGENT_LLM_TIMEOUT_SECONDS,
            )
        except LLMError as error:
            logger.warning(
                "virtual agent: the model failed (session %s), handing off: %s",
                self.session_pk,
                error,
            )
            answer = ModelAnswer(
                "".join(turn.sent),
                turn.article,
                (HandoffReason.MODEL_ERROR, f"The language model failed: {error}"[:500]),
            )
        except asyncio.CancelledError:
            self.dialog.said("".join(turn.sent))  # what was sent; the interrupt trims it
            raise
        except Exception:  # a bug of ours must not leave the caller on a dead line either
            logger.exception("virtual agent: the LLM turn failed (session %s)", self.session_pk)
            answer = ModelAnswer(
                "".join(turn.sent),
                turn.article,
                (HandoffReason.MODEL_ERROR, "The virtual agent failed while answering."),
            )
        await self._finish_answer(turn, answer)

    async def _finish_answer(self, turn: Turn, answer: ModelAnswer) -> None:
        text = answer.text.strip()
        article = answer.article
        self.dialog.said(text)
        if answer.handoff is None:
            closing = ""
            if article is not None and article.title.lower() not in text.lower():
                closing = f" That's from our article {article.title}."  # the citation, always
                self.dialog.lines[-1] = ("agent", f"{text}{closing}")
            turn.reply = Reply(
                text + closing,
                article_id=article.id if article else None,
                article_title=article.title if article else "",
            )
            await self._send_text(turn, closing, last=True, helpful=article is not None)
            turn.streamed = True
        else:
            code, reason = answer.handoff
            lead = NOT_KNOWN if code == HandoffReason.NOT_IN_KNOWLEDGE and not text else ""
            handing = self.dialog.hand_off(code, reason, lead=lead)
            turn.reply = Reply(
                f"{text} {handing.text}".strip(),
                article_id=article.id if article else None,
                article_title=article.title if article else "",
                handoff=handing.handoff,
            )
            pace = settings.VIRTUAL_AGENT_TOKEN_PACE_MS / 1000
            tokens = handing.tokens()
            if text and not text.endswith(" "):
                tokens[0] = " " + tokens[0]
            for position, token in enumerate(tokens):
                if position:
                    await asyncio.sleep(pace)
                await self._send_text(turn, token, last=position == len(tokens) - 1, helpful=False)
            turn.streamed = True
            assert handing.handoff is not None
            await self._end(handing.handoff)
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
