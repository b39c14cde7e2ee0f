"""The LLM path: the relay socket answered by a streamed model with tools (a local server that
speaks the OpenAI streaming protocol stands in for the user's model)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging

import pytest
from channels.db import database_sync_to_async

from apps.agent.choices import HandoffReason, SessionOutcome
from apps.agent.models import AgentSession, AgentTurn
from apps.agent.services.model_turn import SYSTEM_PROMPT
from tests.fixtures.llm_server import llm_server_fixture  # noqa: F401

from .conftest import relay_socket, reply_of, setup_message

pytestmark = pytest.mark.django_db(transaction=True)

HOURS = {"query": "branch opening hours on saturday"}


@pytest.fixture(autouse=True)
def llm_backend(settings, llm_server):
    settings.VIRTUAL_AGENT_BACKEND = "llm"
    settings.LLM_BASE_URL = llm_server.base_url
    settings.LLM_MODEL = llm_server.model
    settings.LLM_API_KEY = "sk-test-key"
    settings.VIRTUAL_AGENT_LLM_TIMEOUT_SECONDS = 2.0
    settings.VIRTUAL_AGENT_LLM_HISTORY_MESSAGES = 12


def _on_boundaries(tokens: list[str], deltas: list[str]) -> bool:
    """Every token ends where a delta of the model ends: deltas are forwarded, never cut."""
    ends = set(itertools.accumulate(len(delta) for delta in deltas))
    return all(end in ends for end in itertools.accumulate(len(token) for token in tokens))


async def _connected():
    communicator = relay_socket()
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to(setup_message())
    return communicator


async def _ask(communicator, text: str) -> None:
    await communicator.send_json_to({"type": "prompt", "voicePrompt": text, "last": True})


def _session() -> AgentSession:
    return AgentSession.objects.get()


def _turns() -> list[AgentTurn]:
    return list(AgentTurn.objects.order_by("index"))


async def test_the_models_answer_reaches_the_socket_token_by_token_after_a_knowledge_lookup(
    knowledge, llm_server
):
    llm_server.reply_tool_call("lookup_knowledge", HOURS, tokens=["Let me check. "])
    answer = ["On Saturday ", "branches ", "open from nine ", "to noon, says our article ",
              "Branch opening hours. ", "Anything else?"]  # fmt: skip
    llm_server.reply_stream(answer, chunk_delay=0.02)
    communicator = await _connected()
    await _ask(communicator, "what are your branch opening hours on saturday")
    text, messages = await reply_of(communicator)
    await communicator.disconnect()

    # The deltas go out as they arrive (those arriving in one read together), in order; the
    # model named the article, so the final message only says ``last``.
    tokens = [m["token"] for m in messages]
    deltas = ["Let me check. ", *answer]
    assert "".join(tokens) == "".join(deltas) and len(tokens) >= 4
    assert _on_boundaries(tokens[:-1], deltas) and tokens[-1] == ""
    assert [m["last"] for m in messages] == [False] * (len(tokens) - 1) + [True]
    first, second = llm_server.requests
    assert first.json["stream"] is True and first.json["model"] == llm_server.model
    assert first.headers["Authorization"] == "Bearer sk-test-key"
    assert [tool["function"]["name"] for tool in first.json["tools"]] == [
        "lookup_knowledge",
        "hand_off",
    ]
    assert first.json["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "what are your branch opening hours on saturday"},
    ]
    # The tool's result went back in a second request: the article the offline path finds.
    call, result = second.json["messages"][-2:]
    assert call["role"] == "assistant" and call["content"] == "Let me check. "
    assert call["tool_calls"][0]["function"] == {
        "name": "lookup_knowledge",
        "arguments": json.dumps(HOURS),
    }
    assert result["role"] == "tool" and result["tool_call_id"] == call["tool_calls"][0]["id"]
    found = json.loads(result["content"])
    assert found["article"] == "Branch opening hours" and "Saturday" in found["answer"]

    (turn,) = await database_sync_to_async(_turns)()
    session = await database_sync_to_async(_session)()
    assert turn.article_title == "Branch opening hours" and turn.article_id is not None
    assert turn.reply == text.strip() and turn.tokens_sent == len(messages)
    # First token: "Let me check." (before the lookup); the first helpful one comes after it.
    assert turn.first_token_ms is not None and turn.first_helpful_ms is not None
    assert turn.first_helpful_ms > turn.first_token_ms
    assert session.outcome == SessionOutcome.CONTAINED


async def test_an_answer_that_does_not_name_its_article_gets_the_citation(knowledge, llm_server):
    llm_server.reply_tool_call("lookup_knowledge", {"query": "order checks"})
    llm_server.reply_stream(["A hundred checks ", "are free."])
    communicator = await _connected()
    await _ask(communicator, "I would like to order checks")
    text, messages = await reply_of(communicator)
    await communicator.disconnect()
    assert messages[-1] == {
        "type": "text",
        "token": " That's from our article Ordering checks.",
        "last": True,
    }
    assert text == "A hundred checks are free. That's from our article Ordering checks."
    (turn,) = await database_sync_to_async(_turns)()
    assert turn.article_title == "Ordering checks" and turn.reply == text


async def test_the_hand_off_tool_ends_the_call_with_reason_summary_and_sentiment(
    knowledge, llm_server
):
    llm_server.reply_tool_call("hand_off", {"reason": "The caller disputes a charge."})
    communicator = await _connected()
    await _ask(communicator, "this is terrible, there is a charge on my card I never made")
    text, _ = await reply_of(communicator)
    end = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert "connect you with a colleague" in text
    assert end["type"] == "end"
    data = json.loads(end["handoffData"])
    assert data["handoffReason"] == HandoffReason.MODEL_HANDOFF
    assert data["reason"] == "The caller disputes a charge."
    assert "charge on my card" in data["callSummary"]
    assert data["sentiment"] == "negative"
    session = await database_sync_to_async(_session)()
    assert session.outcome == SessionOutcome.HANDED_OFF
    assert session.handoff_reason_code == HandoffReason.MODEL_HANDOFF
    (turn,) = await database_sync_to_async(_turns)()
    assert turn.handoff and turn.first_helpful_ms is None


def _server_error(server):
    server.reply_status(500, "upstream exploded")


def _too_slow(server):
    server.reply_delay(5.0)


def _not_json(server):
    server.reply_sse(['data: {"choices": [{"delta": {"content": "Hel', ""])


def _cut_short(server):
    server.reply_sse(['data: {"choices": [{"delta": {"content": "Our branches "}}]}'])


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (_server_error, "HTTP 500"),
        (_too_slow, "timeout: no answer from"),
        (_not_json, "is not JSON"),
        (_cut_short, "ended before the answer did"),
    ],
)
async def test_a_failing_model_hands_the_caller_off_with_the_reason_and_logs_it(
    knowledge, llm_server, settings, caplog, script, expected
):
    settings.VIRTUAL_AGENT_LLM_TIMEOUT_SECONDS = 0.5
    script(llm_server)
    communicator = await _connected()
    with caplog.at_level(logging.WARNING, logger="apps.agent.consumers"):
        await _ask(communicator, "what are your branch opening hours")
        text, _ = await reply_of(communicator)
        end = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert "connect you with a colleague" in text and end["type"] == "end"
    data = json.loads(end["handoffData"])
    assert data["handoffReason"] == HandoffReason.MODEL_ERROR
    assert data["reason"].startswith("The language model failed") and expected in data["reason"]
    assert "sk-test-key" not in data["reason"]
    assert "the model failed" in caplog.text and expected in caplog.text
    session = await database_sync_to_async(_session)()
    assert session.outcome == SessionOutcome.HANDED_OFF
    assert session.handoff_reason_code == HandoffReason.MODEL_ERROR


async def test_an_interrupt_mid_stream_stops_the_tokens_closes_the_response_and_is_recorded(
    knowledge, llm_server
):
    llm_server.reply_stream([f"word{n} " for n in range(40)], chunk_delay=0.05)
    llm_server.reply_tool_call("lookup_knowledge", {"query": "account balance"})
    llm_server.reply_stream(["Your balance ", "is read after verification."])
    communicator = await _connected()
    await _ask(communicator, "tell me something long")
    first = await communicator.receive_json_from(timeout=5)
    assert first["type"] == "text" and first["token"].startswith("word0 ") and not first["last"]
    await communicator.send_json_to(
        {"type": "interrupt", "utteranceUntilInterrupt": "word0", "durationUntilInterruptMs": 90}
    )
    assert await communicator.receive_nothing(timeout=0.5)
    # The model's HTTP response was closed: its server saw the client go mid-stream.
    for _ in range(40):
        if llm_server.aborted:
            break
        await asyncio.sleep(0.05)
    assert llm_server.aborted == 1
    await _ask(communicator, "actually how can I check my account balance")
    text, _ = await reply_of(communicator)
    assert text.startswith("Your balance is read after verification.")
    await communicator.disconnect()

    interrupted, answered = await database_sync_to_async(_turns)()
    assert interrupted.interrupted and interrupted.heard == "word0"
    assert interrupted.interrupted_after_ms == 90 and interrupted.recovered is True
    assert 1 <= interrupted.tokens_sent < 10
    assert interrupted.first_token_ms is not None
    assert answered.article_title == "Checking an account balance" and not answered.interrupted
    # The model was told what the caller heard, not what it meant to say.
    history = llm_server.requests[1].json["messages"]
    assert history[1:] == [
        {"role": "user", "content": "tell me something long"},
        {"role": "assistant", "content": "word0"},
        {"role": "user", "content": "actually how can I check my account balance"},
    ]


async def test_the_rules_come_before_the_model(knowledge, llm_server):
    communicator = await _connected()
    await _ask(communicator, "let me talk to a real person please")
    await reply_of(communicator)
    end = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert json.loads(end["handoffData"])["handoffReason"] == HandoffReason.ASKED_FOR_PERSON
    assert llm_server.requests == []


async def test_a_lookup_that_finds_nothing_hands_off_without_asking_the_model_again(
    knowledge, llm_server
):
    llm_server.reply_tool_call("lookup_knowledge", {"query": "exchange rate for euros"})
    communicator = await _connected()
    await _ask(communicator, "can you tell me the exchange rate for euros")
    text, _ = await reply_of(communicator)
    end = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert text.startswith("I'm sorry, I don't have an answer")
    data = json.loads(end["handoffData"])
    assert data["handoffReason"] == HandoffReason.NOT_IN_KNOWLEDGE
    assert "exchange rate for euros" in data["reason"]
    assert len(llm_server.requests) == 1


async def test_the_history_sent_to_the_model_is_bounded(knowledge, llm_server, settings):
    settings.VIRTUAL_AGENT_LLM_HISTORY_MESSAGES = 2
    llm_server.reply_stream(["Hello, ", "how can I help?"])
    llm_server.reply_stream(["Of course."])
    communicator = await _connected()
    await _ask(communicator, "hi there")
    await reply_of(communicator)
    await _ask(communicator, "one more thing")
    await reply_of(communicator)
    await communicator.disconnect()
    assert llm_server.requests[1].json["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "one more thing"},
    ]
