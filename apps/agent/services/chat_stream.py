"""The LLM path's transport: one streamed chat completion from an OpenAI-compatible API, async.

``stream_chat`` posts ``stream: true`` with the tools and yields the text deltas as they arrive
(Server-Sent Events, ``data:`` chunks, ``[DONE]``), then one :class:`Completed` with the tool
calls assembled from their streamed deltas. Anything that is not an answer (no connection, a
timeout between two chunks, an HTTP error, a chunk that is not JSON, a stream that stops before
the answer does) raises ``LLMError`` (the intelligence client's error, same ``kind`` values).

The consumer's event loop is never blocked (aiohttp). Closing the generator, or cancelling the
task that reads it (an interrupt), closes the HTTP response at once: the server sees the
connection go and stops generating. No retries: a caller waiting in silence is better handed to
a person than made to wait for a second attempt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from apps.intelligence.llm import LLMError, LLMSettings

logger = logging.getLogger(__name__)

# A voice answer is a few sentences; a runaway model must not talk for minutes.
MAX_TOKENS = 400
_SNIPPET = 200


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the JSON text as streamed

    def args(self) -> dict[str, Any]:
        """The arguments as an object; ``{}`` when the model sent something else."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class Completed:
    """The end of a streamed answer: its tool calls (in order) and finish reason."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass
class _ToolDraft:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class _Assembly:
    """What the deltas of one answer add up to."""

    def __init__(self) -> None:
        self.drafts: dict[int, _ToolDraft] = {}
        self.finish_reason: str | None = None

    def add_tool_deltas(self, deltas: Any) -> None:
        if not isinstance(deltas, list):
            return
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                continue
            index = delta.get("index")
            draft = self.drafts.setdefault(
                index if isinstance(index, int) else position, _ToolDraft()
            )
            if isinstance(delta.get("id"), str) and delta["id"]:
                draft.id = delta["id"]
            function = delta.get("function")
            if isinstance(function, dict):
                if isinstance(function.get("name"), str) and function["name"]:
                    draft.name = function["name"]
                if isinstance(function.get("arguments"), str):
                    draft.arguments.append(function["arguments"])
                elif isinstance(function.get("arguments"), dict):  # some servers send an object
                    draft.arguments.append(json.dumps(function["arguments"]))

    def completed(self) -> Completed:
        calls = [
            ToolCall(
                id=draft.id or f"call_{index}", name=draft.name, arguments="".join(draft.arguments)
            )
            for index, draft in sorted(self.drafts.items())
            if draft.name
        ]
        return Completed(tool_calls=calls, finish_reason=self.finish_reason)


def display_url(url: str) -> str:
    """The URL without credentials or query (they may carry a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


async def stream_chat(
    *,
    http: aiohttp.ClientSession,
    settings: LLMSettings,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    timeout_seconds: float,
    temperature: float = 0.2,
) -> AsyncGenerator[str | Completed, None]:
    """Text deltas as they arrive, then one :class:`Completed`; ``LLMError`` otherwise.

    ``timeout_seconds`` bounds the connection and every wait for the server's next bytes (its
    headers, then each chunk), not the whole answer."""
    if not settings.configured:
        raise LLMError("not_configured", "the llm backend needs LLM_BASE_URL and LLM_MODEL")
    url = settings.base_url.rstrip("/") + "/chat/completions"
    shown = display_url(url)
    headers = {"Accept": "text/event-stream"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    payload: dict[str, Any] = {
        "model": settings.model,
        "messages": messages,
        "stream": True,
        "temperature": temperature,
        "max_tokens": MAX_TOKENS,
    }
    if tools:
        payload |= {"tools": tools, "tool_choice": "auto"}
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=timeout_seconds, sock_read=timeout_seconds
    )

    def redact(text: str) -> str:
        return text.replace(settings.api_key, "[redacted]") if settings.api_key else text

    def error(kind: Any, message: str, **details: Any) -> LLMError:
        return LLMError(kind, redact(message), model=settings.model, **details)

    finished = False
    try:
        async with http.post(url, json=payload, headers=headers, timeout=timeout) as response:
            try:
                if response.status != 200:
                    body = (await response.content.read(4000)).decode("utf-8", "replace")
                    raise error(
                        "http",
                        f"HTTP {response.status} from {shown}: {_snippet(body)}",
                        status=response.status,
                        raw_text=redact(body),
                    )
                if response.content_type == "application/json":
                    # A server that ignored ``stream: true``: one whole completion.
                    async for item in _whole(response, shown, error):
                        yield item
                else:
                    async for item in _events(response, shown, error):
                        yield item
                finished = True
            finally:
                if not finished:
                    # Interrupted, failed or abandoned: drop the connection, never drain it.
                    response.close()
    except LLMError:
        raise
    except TimeoutError:
        raise error("timeout", f"no answer from {shown} within {timeout_seconds:g}s") from None
    except aiohttp.ClientError as exc:
        raise error("connection", f"cannot reach {shown}: {_snippet(str(exc))}") from None
    except ValueError as exc:  # e.g. a line longer than aiohttp's limit
        raise error("protocol", f"unreadable stream from {shown}: {exc}") from None


# A line this long without a newline is no SSE stream.
MAX_LINE_BYTES = 1 << 20


class _Events:
    """The SSE lines of one answer, parsed tolerantly: comments, ``event:``/``id:`` lines and
    chunks without choices (usage) are skipped; a ``data:`` event split over several lines is
    joined."""

    def __init__(self, shown: str, error: Any) -> None:
        self.shown = shown
        self.error = error
        self.assembly = _Assembly()
        self.pending: list[str] = []  # data lines of an event that does not parse yet
        self.done = False

    def not_json(self) -> LLMError:
        text = _snippet(chr(10).join(self.pending))
        return self.error("protocol", f"a streamed chunk from {self.shown} is not JSON: {text}")

    def line(self, raw: bytes) -> list[str]:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if not line:
            if self.pending:
                raise self.not_json()
            return []
        if line.startswith(":") or not line.startswith("data:"):
            return []
        data = line[5:].removeprefix(" ")
        if not self.pending and data.strip() == "[DONE]":
            self.done = True
            return []
        self.pending.append(data)
        try:
            chunk = json.loads("\n".join(self.pending))
        except ValueError:
            return []
        self.pending = []
        return _chunk_texts(chunk, self.assembly, self.shown, self.error)


async def _events(
    response: aiohttp.ClientResponse, shown: str, error: Any
) -> AsyncGenerator[str | Completed, None]:
    """The text of each network read as one delta: what arrived together goes out together
    (one socket frame instead of one per chunk when the model's chunks come in a burst)."""
    events = _Events(shown, error)
    buffer = b""
    async for data in response.content.iter_any():
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) > MAX_LINE_BYTES:
            raise error("protocol", f"a line of the stream from {shown} never ends")
        texts: list[str] = []
        for raw in lines:
            texts += events.line(raw)
            if events.done:
                break
        if texts:
            yield "".join(texts)
        if events.done:
            break
    if not events.done and buffer.strip():
        text = "".join(events.line(buffer))  # the last line, without its newline
        if text:
            yield text
    if events.pending:
        raise events.not_json()
    if not events.done and events.assembly.finish_reason is None:
        raise error("protocol", f"the stream from {shown} ended before the answer did")
    yield events.assembly.completed()


def _chunk_texts(chunk: Any, assembly: _Assembly, shown: str, error: Any) -> list[str]:
    if not isinstance(chunk, dict):
        raise error(
            "protocol",
            f"a streamed chunk from {shown} is not an object: {_snippet(json.dumps(chunk))}",
        )
    if "error" in chunk:  # servers report failures mid-stream this way
        problem = chunk["error"]
        message = problem.get("message") if isinstance(problem, dict) else problem
        raise error("http", f"{shown} reported an error mid-stream: {_snippet(str(message))}")
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return []  # a usage or keep-alive chunk
    choice = choices[0]
    if isinstance(choice.get("finish_reason"), str):
        assembly.finish_reason = choice["finish_reason"]
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return []
    assembly.add_tool_deltas(delta.get("tool_calls"))
    content = delta.get("content")
    return [content] if isinstance(content, str) and content else []


async def _whole(
    response: aiohttp.ClientResponse, shown: str, error: Any
) -> AsyncGenerator[str | Completed, None]:
    text = (await response.read()).decode("utf-8", "replace")
    try:
        body = json.loads(text)
        choice = body["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise error(
            "protocol", f"the answer from {shown} is not a chat completion: {_snippet(text)}"
        ) from None
    assembly = _Assembly()
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    assembly.add_tool_deltas(
        [dict(call, index=i) for i, call in enumerate(calls) if isinstance(call, dict)]
        if isinstance(calls, list)
        else None
    )
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    assembly.finish_reason = finish if isinstance(finish, str) else "stop"
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str) and content:
        yield content
    yield assembly.completed()
