"""The LLM path's transport against a local server speaking the streamed protocol."""

from __future__ import annotations

import json
import socket

import aiohttp
import pytest

from apps.agent.services.chat_stream import Completed, ToolCall, stream_chat
from apps.intelligence.llm import LLMError, LLMSettings
from tests.fixtures.llm_server import completion, llm_server_fixture  # noqa: F401


async def _collect(server, **options) -> tuple[list[str], Completed]:
    async with aiohttp.ClientSession() as http:
        items = [
            item
            async for item in stream_chat(
                http=http,
                settings=server.llm_settings(**options),
                messages=[{"role": "user", "content": "hi"}],
                tools=[],
                timeout_seconds=2,
            )
        ]
    *texts, end = items
    assert isinstance(end, Completed) and all(isinstance(text, str) for text in texts)
    return texts, end


async def _fails(server, **options) -> LLMError:
    with pytest.raises(LLMError) as caught:
        await _collect(server, **options)
    return caught.value


async def test_comments_other_fields_usage_chunks_and_split_data_lines_are_tolerated(llm_server):
    delta = {"choices": [{"delta": {"content": "two lines"}}]}
    split = json.dumps(delta, indent=1).splitlines()
    llm_server.reply_sse(
        [
            ": keep-alive",
            "event: message\nid: 1\ndata: "
            + json.dumps({"choices": [{"delta": {"content": "A"}}]}),
            "\n".join("data: " + line for line in split),  # one event over several data lines
            "data:" + json.dumps({"choices": [], "usage": {"total_tokens": 3}}),
            "data: " + json.dumps({"choices": [{"delta": {}, "finish_reason": "stop"}]}),
            "data: [DONE]",
        ]
    )
    texts, end = await _collect(llm_server)
    assert "".join(texts) == "Atwo lines"  # what arrives in one read goes out as one delta
    assert end == Completed(tool_calls=[], finish_reason="stop")


async def test_tool_calls_are_assembled_from_their_deltas_in_order(llm_server):
    head = {"choices": [{"delta": {"tool_calls": [
        {"index": 0, "id": "call_a", "type": "function",
         "function": {"name": "lookup_knowledge", "arguments": '{"que'}},
        {"index": 1, "id": "call_b", "type": "function",
         "function": {"name": "hand_off", "arguments": ""}},
    ]}}]}  # fmt: skip
    tail = [
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}}]},
        {
            "choices": [
                {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ry": '}}]}}
            ]
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    ]
    llm_server.reply_sse(["data: " + json.dumps(event) for event in [head, *tail]])
    texts, end = await _collect(llm_server)  # no [DONE]: the finish reason ends it
    assert texts == []
    assert end.tool_calls == [
        ToolCall(id="call_a", name="lookup_knowledge", arguments='{"query": "x"}'),
        ToolCall(id="call_b", name="hand_off", arguments="{}"),
    ]
    assert end.tool_calls[0].args() == {"query": "x"}
    assert end.finish_reason == "tool_calls"


async def test_a_server_that_ignores_stream_true_is_read_whole(llm_server):
    llm_server.enqueue(completion("Branches open at nine."))
    texts, end = await _collect(llm_server)
    assert texts == ["Branches open at nine."] and end.tool_calls == []
    assert llm_server.requests[0].json["stream"] is True


async def test_an_error_object_mid_stream_fails_with_its_message(llm_server):
    llm_server.reply_sse(
        [
            "data: " + json.dumps({"choices": [{"delta": {"content": "Our"}}]}),
            "data: " + json.dumps({"error": {"message": "model overloaded"}}),
        ]
    )
    error = await _fails(llm_server)
    assert error.kind == "http" and "model overloaded" in error.message


async def test_the_api_key_never_appears_in_an_error(llm_server):
    llm_server.reply_status(401, "invalid key sk-secret-123")
    error = await _fails(llm_server, api_key="sk-secret-123")
    assert error.kind == "http" and error.status == 401
    assert "sk-secret-123" not in str(error) and "[redacted]" in str(error)
    assert llm_server.requests[0].headers["Authorization"] == "Bearer sk-secret-123"


async def test_a_refused_connection_fails_as_connection():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m")
    with pytest.raises(LLMError) as caught:
        async with aiohttp.ClientSession() as http:
            async for _ in stream_chat(
                http=http, settings=settings, messages=[], tools=[], timeout_seconds=1
            ):
                pass
    assert caught.value.kind == "connection"


async def test_no_settings_no_request():
    with pytest.raises(LLMError) as caught:
        async with aiohttp.ClientSession() as http:
            async for _ in stream_chat(
                http=http,
                settings=LLMSettings(base_url="", model=""),
                messages=[],
                tools=[],
                timeout_seconds=1,
            ):
                pass
    assert caught.value.kind == "not_configured"
