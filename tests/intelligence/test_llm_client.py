"""The llm backend's transport against a real (local) OpenAI-compatible server; no database."""

from __future__ import annotations

import json
import socket
import time

import pytest

from apps.intelligence.llm import (
    LLMError,
    LLMSettings,
    chat_json,
    instance_problems,
    schema_problems,
    settings_from_django,
)
from tests.fixtures.llm_server import llm_server_fixture  # noqa: F401

API_KEY = "sk-test-0123456789abcdef"
SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["billing", "cancel", "other"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["label", "confidence"],
    "additionalProperties": False,
}
ANSWER = {"label": "billing", "confidence": 0.9}


def ask(settings: LLMSettings, user: str = "customer: my bill is wrong", **options):
    return chat_json(
        settings=settings,
        system="Classify the call.",
        user=user,
        schema=SCHEMA,
        schema_name="call_label",
        **options,
    )


def fails(settings: LLMSettings, **options) -> LLMError:
    with pytest.raises(LLMError) as caught:
        ask(settings, **options)
    return caught.value


def test_chat_json_returns_the_object_with_tokens_latency_and_the_served_model(llm_server):
    llm_server.reply_json(ANSWER, model="qwen3:8b-q4", prompt_tokens=321, completion_tokens=12)

    answer = ask(llm_server.llm_settings(api_key=API_KEY), temperature=0.2)

    assert answer.data == ANSWER
    assert answer.content == json.dumps(ANSWER)
    assert (answer.model, answer.prompt_tokens, answer.completion_tokens) == (
        "qwen3:8b-q4",
        321,
        12,
    )
    assert answer.attempts == 1
    assert 0 <= answer.latency_ms < 5000
    assert answer.input_characters == len("Classify the call.") + len("customer: my bill is wrong")
    assert answer.output_characters == len(answer.content)
    assert answer.input_truncated is False
    assert answer.system_metadata() == {
        "resolvedModel": "qwen3:8b-q4",
        "latencyMs": answer.latency_ms,
        "inputCharacters": answer.input_characters,
        "outputCharacters": answer.output_characters,
        "inputTruncated": False,
        "promptTokens": 321,
        "completionTokens": 12,
        "attempts": 1,
    }


def test_chat_json_request_carries_model_messages_schema_and_bearer_key(llm_server):
    llm_server.reply_json(ANSWER)

    ask(llm_server.llm_settings(api_key=API_KEY), temperature=0.2)

    [request] = llm_server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.json == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Classify the call."},
            {"role": "user", "content": "customer: my bill is wrong"},
        ],
        "temperature": 0.2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "call_label", "schema": SCHEMA, "strict": True},
        },
    }


def test_chat_json_sends_no_authorization_header_without_a_key(llm_server):
    llm_server.reply_json(ANSWER)

    ask(llm_server.llm_settings())

    assert "Authorization" not in llm_server.requests[0].headers


def test_chat_json_falls_back_to_the_configured_model_when_the_answer_names_none(llm_server):
    llm_server.reply_raw({"choices": [{"message": {"content": json.dumps(ANSWER)}}]})

    answer = ask(llm_server.llm_settings(model="llama3.1"))

    assert (answer.model, answer.prompt_tokens, answer.completion_tokens) == (
        "llama3.1",
        None,
        None,
    )


def test_json_object_mode_asks_for_an_object_and_puts_the_schema_in_the_system_prompt(llm_server):
    llm_server.reply_json(ANSWER)

    answer = ask(llm_server.llm_settings(json_mode="json_object"))

    assert answer.data == ANSWER
    body = llm_server.requests[0].json
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert system.startswith("Classify the call.")
    assert json.dumps(SCHEMA) in system


def test_fenced_json_is_accepted(llm_server):
    llm_server.reply_json(ANSWER, fenced=True)

    answer = ask(llm_server.llm_settings())

    assert answer.data == ANSWER
    assert answer.content.startswith("```json")


def test_a_schema_violation_raises_schema_with_the_raw_text_and_json_paths(llm_server):
    llm_server.reply_json({"label": 3})

    error = fails(llm_server.llm_settings())

    assert error.kind == "schema"
    assert error.raw_text == '{"label": 3}'
    assert error.schema_errors == [
        "$.label: 3 is not of type 'string'",
        "$.label: 3 is not one of ['billing', 'cancel', 'other']",
        "$: 'confidence' is a required property",
    ]
    assert error.attempts == 1
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize("content", ["Sure! The label is billing.", '{"confidence": NaN}', ""])
def test_an_answer_that_is_not_json_raises_not_json_without_retrying(llm_server, content):
    llm_server.reply_text(content)

    error = fails(llm_server.llm_settings())

    assert (error.kind, error.raw_text, error.attempts) == ("not_json", content, 1)
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize(
    "body", [{"result": "billing"}, {"choices": []}, "<html>gateway</html>", [1, 2]]
)
def test_a_body_that_is_not_a_chat_completion_raises_protocol(llm_server, body):
    llm_server.reply_raw(body)

    error = fails(llm_server.llm_settings())

    assert (error.kind, error.status, error.attempts) == ("protocol", 200, 1)
    assert error.raw_text == (body if isinstance(body, str) else json.dumps(body))


def test_a_refusal_raises_refused(llm_server):
    llm_server.reply_refusal("I can't help with that.")

    error = fails(llm_server.llm_settings())

    assert (error.kind, error.raw_text) == ("refused", "I can't help with that.")


def test_a_timeout_is_retried_then_raises_timeout(llm_server):
    llm_server.reply_delay(1.0, then=ANSWER)
    llm_server.reply_delay(1.0, then=ANSWER)
    started = time.monotonic()

    error = fails(llm_server.llm_settings(timeout_seconds=0.2, max_retries=1))

    assert (error.kind, error.attempts, error.status) == ("timeout", 2, None)
    assert len(llm_server.requests) == 2
    assert error.latency_ms is not None and error.latency_ms >= 150
    assert error.system_metadata()["error"] == "timeout"
    assert time.monotonic() - started < 1.5


def test_a_server_error_then_success_takes_two_attempts(llm_server):
    llm_server.reply_status(500, "upstream exploded")
    llm_server.reply_json(ANSWER)

    answer = ask(llm_server.llm_settings())

    assert (answer.data, answer.attempts) == (ANSWER, 2)


def test_server_errors_stop_after_max_retries(llm_server):
    for _ in range(3):
        llm_server.reply_status(503, "overloaded")
    llm_server.reply_json(ANSWER)

    error = fails(llm_server.llm_settings(max_retries=2))

    assert (error.kind, error.status, error.attempts, error.raw_text) == (
        "http",
        503,
        3,
        "overloaded",
    )
    assert llm_server.pending == 1


def test_429_with_retry_after_zero_is_retried_without_the_backoff(llm_server):
    llm_server.reply_status(429, "slow down", headers={"Retry-After": "0"})
    llm_server.reply_json(ANSWER)
    started = time.monotonic()

    answer = ask(llm_server.llm_settings(backoff_seconds=5))

    assert answer.attempts == 2
    assert time.monotonic() - started < 2


def test_400_is_not_retried(llm_server):
    llm_server.reply_status(400, {"error": {"message": "response_format is not supported"}})
    llm_server.reply_json(ANSWER)

    error = fails(llm_server.llm_settings())

    assert (error.kind, error.status, error.attempts) == ("http", 400, 1)
    assert "response_format is not supported" in error.raw_text
    assert len(llm_server.requests) == 1


def test_a_refused_connection_is_retried_then_raises_connection():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LLMSettings(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff_seconds=0
    )

    error = fails(settings)

    assert (error.kind, error.attempts) == ("connection", 2)


@pytest.mark.parametrize("missing", ["base_url", "model"])
def test_not_configured_raises_without_any_request(llm_server, missing):
    settings = llm_server.llm_settings(**{missing: ""})

    error = fails(settings)

    assert settings.configured is False
    assert (error.kind, error.attempts) == ("not_configured", 0)
    assert llm_server.requests == []


def test_a_long_input_is_truncated_keeping_its_end(llm_server):
    llm_server.reply_json(ANSWER)
    transcript = "agent: hello, how can I help?\n" * 20 + "customer: cancel my plan"

    answer = ask(llm_server.llm_settings(max_input_chars=50), user=transcript)

    sent = llm_server.requests[0].json["messages"][1]["content"]
    assert sent == transcript[-50:]
    assert sent.endswith("customer: cancel my plan")
    assert answer.input_truncated is True
    assert answer.system_metadata()["inputTruncated"] is True


def test_an_input_within_the_limit_is_sent_whole(llm_server):
    llm_server.reply_json(ANSWER)

    answer = ask(llm_server.llm_settings(max_input_chars=26), user="customer: my bill is wrong")

    assert llm_server.requests[0].json["messages"][1]["content"] == "customer: my bill is wrong"
    assert answer.input_truncated is False


def test_the_api_key_never_appears_in_errors(llm_server):
    llm_server.reply_status(401, f"invalid key {API_KEY}")
    settings = llm_server.llm_settings(api_key=API_KEY)

    error = fails(settings)

    assert error.kind == "http"
    assert API_KEY not in str(error)
    assert API_KEY not in error.raw_text
    assert API_KEY not in json.dumps(error.system_metadata())
    assert API_KEY not in repr(settings)


def test_an_unusable_schema_is_refused_before_any_request(llm_server):
    with pytest.raises(ValueError, match="not usable"):
        chat_json(
            settings=llm_server.llm_settings(),
            system="s",
            user="u",
            schema={"type": "objekt"},
            schema_name="bad",
        )

    assert llm_server.requests == []


def test_schema_problems_accepts_an_object_schema():
    assert schema_problems(SCHEMA) == []


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "objekt"}, "$.type: 'objekt' is not valid under any of the given schemas"),
        ({"type": "array", "items": {"type": "string"}}, "$: the schema's root must have"),
        ({"properties": {}}, "$: the schema's root must have"),
        ({"type": "object", "required": "label"}, "$.required: 'label' is not of type 'array'"),
        ([{"type": "object"}], "the schema must be a JSON object, got list"),
    ],
)
def test_schema_problems_explains_an_unusable_schema(schema, expected):
    problems = schema_problems(schema)

    assert problems
    assert problems[0].startswith(expected)


def test_instance_problems_lists_paths_and_messages_sorted():
    assert instance_problems(SCHEMA, ANSWER) == []
    assert instance_problems(SCHEMA, {"label": "refund", "confidence": 2, "x": 1}) == [
        "$.confidence: 2 is greater than the maximum of 1",
        "$.label: 'refund' is not one of ['billing', 'cancel', 'other']",
        "$: Additional properties are not allowed ('x' was unexpected)",
    ]


def test_settings_from_django_reads_the_llm_settings(settings):
    settings.LLM_BASE_URL = "http://localhost:11434/v1"
    settings.LLM_MODEL = "llama3.1"
    settings.LLM_API_KEY = API_KEY
    settings.LLM_TIMEOUT_SECONDS = 12
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_MAX_INPUT_CHARS = 1000
    settings.LLM_JSON_MODE = "json_object"

    assert settings_from_django() == LLMSettings(
        base_url="http://localhost:11434/v1",
        model="llama3.1",
        api_key=API_KEY,
        timeout_seconds=12,
        max_retries=0,
        max_input_chars=1000,
        json_mode="json_object",
    )


def test_the_server_answers_from_its_responder_when_nothing_is_queued(llm_server):
    def responder(request):
        label = "cancel" if "cancel" in request["messages"][1]["content"] else "other"
        return {"label": label, "confidence": 1}

    llm_server.responder = responder
    settings = llm_server.llm_settings()

    assert ask(settings, user="customer: cancel it").data == {"label": "cancel", "confidence": 1}
    assert ask(settings, user="customer: hello").data == {"label": "other", "confidence": 1}


def test_the_server_answers_400_when_nothing_is_queued_and_no_responder(llm_server):
    error = fails(llm_server.llm_settings())

    assert (error.kind, error.status, error.attempts) == ("http", 400, 1)
    assert "no reply queued" in error.raw_text
