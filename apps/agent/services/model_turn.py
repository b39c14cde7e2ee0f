"""One caller turn answered by the user's own model (the LLM path): prompt, tools, rounds.

The model gets the system prompt, the call so far (bounded) and two tools:
``lookup_knowledge(query)`` runs the offline path's retrieval over the published articles
(``dialog.retrieve``) and feeds the best article's title and sentences back in a second request;
``hand_off(reason)`` ends the turn with a handoff. Text deltas go to ``emit`` as they arrive
(the consumer sends them as ``text`` tokens); what this returns says how the turn ends. A lookup
that finds nothing hands off at once (``not-in-knowledge``): the model is not asked to answer
without an article. Transport failures raise ``LLMError`` for the consumer to hand off on.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from apps.intelligence.llm import LLMSettings

from ..choices import HandoffReason
from .chat_stream import Completed, ToolCall, stream_chat
from .dialog import Article

SYSTEM_PROMPT = (
    "You are the virtual assistant of Harper Valley National Bank, speaking with a caller on "
    "the phone. Your words are read aloud: answer in one to three short plain sentences, no "
    "lists, no markdown. Answer questions about the bank's services only from the bank's "
    "knowledge base: call lookup_knowledge with the caller's question first, then answer from "
    "what it returns and say which article it came from. Never invent policies, fees or hours. "
    "Call hand_off with a short reason when the caller wants a person, is upset, or needs "
    "something the knowledge base and you cannot do (anything about their own account that "
    "needs their identity). After an answer, ask whether there is anything else; when the "
    "caller has nothing more, say goodbye."
)

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_knowledge",
            "description": "Search the bank's published knowledge articles. Returns the best "
            "matching article's title and the sentences that answer the query.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "The caller's question."}
                },
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "hand_off",
            "description": "Transfer the caller to a human colleague.",
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why, in one sentence."}
                },
                "required": ["reason"],
            },
        },
    },
]

# lookup, answer; one more for a model that looks twice. Then the turn is handed off.
MAX_ROUNDS = 3
REASON_MAX_CHARS = 300

Lookup = Callable[[str], tuple[Article, str] | None]
Emit = Callable[[str, bool], Awaitable[None]]  # (text, helpful)


@dataclass(frozen=True)
class ModelAnswer:
    """How a model turn ended: the text streamed, the article looked up (if any), and a handoff
    (reason code, reason) when the caller goes to a person."""

    text: str
    article: Article | None = None
    handoff: tuple[str, str] | None = None


def _assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments or "{}"},
            }
            for call in calls
        ],
    }


async def model_turn(
    *,
    http: aiohttp.ClientSession,
    settings: LLMSettings,
    history: list[dict[str, str]],
    prompt: str,
    lookup: Lookup,
    emit: Emit,
    timeout_seconds: float,
) -> ModelAnswer:
    """Answer the caller's turn (already the last of ``history``) with the model."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}, *history]
    spoken: list[str] = []
    article: Article | None = None
    for _ in range(MAX_ROUNDS):
        said: list[str] = []
        end = Completed()
        stream = stream_chat(
            http=http,
            settings=settings,
            messages=messages,
            tools=TOOLS,
            timeout_seconds=timeout_seconds,
        )
        async with contextlib.aclosing(stream):
            async for item in stream:
                if isinstance(item, Completed):
                    end = item
                else:
                    said.append(item)
                    spoken.append(item)
                    await emit(item, article is not None)
        text = "".join(spoken)
        if not end.tool_calls:
            if not text.strip():
                return ModelAnswer(
                    text, article, (HandoffReason.MODEL_ERROR, "The model answered nothing.")
                )
            return ModelAnswer(text, article)
        for call in end.tool_calls:
            if call.name == "hand_off":
                reason = str(call.args().get("reason") or "").strip()[:REASON_MAX_CHARS]
                return ModelAnswer(
                    text,
                    article,
                    (HandoffReason.MODEL_HANDOFF, reason or "The model handed the call off."),
                )
        messages.append(_assistant_message("".join(said), end.tool_calls))
        for call in end.tool_calls:
            if call.name != "lookup_knowledge":
                result: dict[str, Any] = {"error": f"there is no tool {call.name!r}"}
            else:
                query = str(call.args().get("query") or "").strip()
                # The model's query first; the caller's own words if it paraphrased them away.
                found = (lookup(query) if query else None) or lookup(prompt)
                if found is None:
                    return ModelAnswer(
                        text,
                        article,
                        (
                            HandoffReason.NOT_IN_KNOWLEDGE,
                            f"The knowledge base has no answer to: {query or prompt}",
                        ),
                    )
                article, excerpt = found
                result = {"article": article.title, "answer": excerpt}
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    return ModelAnswer(
        "".join(spoken),
        article,
        (
            HandoffReason.MODEL_ERROR,
            f"The model called tools {MAX_ROUNDS} times without answering.",
        ),
    )
