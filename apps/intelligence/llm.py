"""The "llm" backend's transport: one JSON answer from an OpenAI-compatible chat-completions API.

Pure module (no ORM): callers pass an :class:`LLMSettings` (usually :func:`settings_from_django`)
and get an :class:`LLMAnswer` whose ``data`` already validates against the schema they asked for,
or an :class:`LLMError` whose ``kind`` says what went wrong. The API key never appears in logs,
error messages or ``raw_text``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
from jsonschema import Draft202012Validator

logger = logging.getLogger(__name__)

LLMErrorKind = Literal[
    "not_configured", "timeout", "connection", "http", "protocol", "not_json", "schema", "refused"
]

JSON_MODES = ("json_schema", "json_object")
RAW_TEXT_LIMIT = 20_000
# A server asking for a long pause is better answered by failing now: the operator run is retried
# later as a whole, while a worker sleeping for minutes holds its slot.
RETRY_AFTER_CAP_SECONDS = 5.0
_MESSAGE_LIMIT = 300

# Reasoning models served by Ollama or vLLM may put their thinking before the answer.
_THINK = re.compile(r"\A\s*<think>.*?</think>", re.DOTALL)
# Models asked for JSON still sometimes wrap it in a Markdown fence.
_FENCE = re.compile(r"\A```[\w-]*[ \t]*\n?(?P<body>.*?)\n?[ \t]*```\Z", re.DOTALL)
# Only what a request library may not even send: retrying cannot help.
_BAD_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


@dataclass(frozen=True, slots=True)
class LLMSettings:
    base_url: str
    model: str
    api_key: str = ""
    timeout_seconds: float = 30
    max_retries: int = 2
    backoff_seconds: float = 0.5
    max_input_chars: int = 24_000
    json_mode: str = "json_schema"

    @property
    def configured(self) -> bool:
        return bool(self.base_url.strip() and self.model.strip())

    def __repr__(self) -> str:
        # Settings end up in tracebacks and debug logs; the key must not.
        key = "'***'" if self.api_key else "''"
        return (
            f"LLMSettings(base_url={self.base_url!r}, model={self.model!r}, api_key={key}, "
            f"timeout_seconds={self.timeout_seconds!r}, max_retries={self.max_retries!r}, "
            f"backoff_seconds={self.backoff_seconds!r}, max_input_chars={self.max_input_chars!r}, "
            f"json_mode={self.json_mode!r})"
        )


def settings_from_django() -> LLMSettings:
    """The LLM_* Django settings (ccportal/settings/intelligence.py) as an :class:`LLMSettings`."""
    from django.conf import settings

    return LLMSettings(
        base_url=getattr(settings, "LLM_BASE_URL", ""),
        model=getattr(settings, "LLM_MODEL", ""),
        api_key=getattr(settings, "LLM_API_KEY", ""),
        timeout_seconds=getattr(settings, "LLM_TIMEOUT_SECONDS", 30),
        max_retries=getattr(settings, "LLM_MAX_RETRIES", 2),
        max_input_chars=getattr(settings, "LLM_MAX_INPUT_CHARS", 24_000),
        json_mode=getattr(settings, "LLM_JSON_MODE", "json_schema"),
    )


def _system_metadata(
    *,
    model: str,
    latency_ms: int | None,
    input_characters: int,
    output_characters: int,
    input_truncated: bool,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    attempts: int,
) -> dict[str, Any]:
    return {
        "resolvedModel": model,
        "latencyMs": latency_ms,
        "inputCharacters": input_characters,
        "outputCharacters": output_characters,
        "inputTruncated": input_truncated,
        "promptTokens": prompt_tokens,
        "completionTokens": completion_tokens,
        "attempts": attempts,
    }


@dataclass(frozen=True, slots=True)
class LLMAnswer:
    data: Any
    content: str
    model: str
    latency_ms: int
    attempts: int
    prompt_tokens: int | None
    completion_tokens: int | None
    input_characters: int
    output_characters: int
    input_truncated: bool

    def system_metadata(self) -> dict[str, Any]:
        """Twilio's ``metadata.system`` shape, for storing next to the operator result."""
        return _system_metadata(
            model=self.model,
            latency_ms=self.latency_ms,
            input_characters=self.input_characters,
            output_characters=self.output_characters,
            input_truncated=self.input_truncated,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            attempts=self.attempts,
        )


class LLMError(Exception):
    """Why no usable answer came back; ``kind`` is one of :data:`LLMErrorKind`.

    ``raw_text`` is what the server said (the body, or the message content once the body was a
    proper completion), truncated to 20k characters; empty when nothing came back.
    """

    def __init__(
        self,
        kind: LLMErrorKind,
        message: str,
        *,
        raw_text: str = "",
        status: int | None = None,
        latency_ms: int | None = None,
        attempts: int = 0,
        model: str = "",
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        schema_errors: list[str] | None = None,
        input_characters: int = 0,
        output_characters: int = 0,
        input_truncated: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind: LLMErrorKind = kind
        self.message = message
        self.raw_text = raw_text[:RAW_TEXT_LIMIT]
        self.status = status
        self.latency_ms = latency_ms
        self.attempts = attempts
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.schema_errors = list(schema_errors or [])
        self.input_characters = input_characters
        self.output_characters = output_characters
        self.input_truncated = input_truncated

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def system_metadata(self) -> dict[str, Any]:
        return {
            **_system_metadata(
                model=self.model,
                latency_ms=self.latency_ms,
                input_characters=self.input_characters,
                output_characters=self.output_characters,
                input_truncated=self.input_truncated,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                attempts=self.attempts,
            ),
            "error": self.kind,
        }


def schema_problems(schema: Any) -> list[str]:
    """Why ``schema`` cannot be used for structured output; ``[]`` when it can.

    A Draft 2020-12 schema whose root is ``"type": "object"`` (what strict structured output
    accepts, and what operator results are stored as).
    """
    if not isinstance(schema, dict):
        return [f"the schema must be a JSON object, got {type(schema).__name__}"]
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    problems = sorted(
        _located(error.json_path, error.message) for error in meta.iter_errors(schema)
    )
    if not problems and schema.get("type") != "object":
        problems.append('$: the schema\'s root must have "type": "object"')
    return problems


# Bounds put on every answer whose schema sets none: a model talked into it (prompt injection)
# or running away must not fill a result with megabytes or with fields nobody asked for.
ANSWER_STRING_MAX = 8000
ANSWER_ARRAY_MAX = 200


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ONE = (
    "items",
    "additionalProperties",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_COMPOSED = ("allOf", "anyOf", "oneOf", "$ref", "unevaluatedProperties")


def closed_schema(schema: Any) -> Any:
    """A copy of ``schema`` that an answer can only fill: objects that list their
    ``properties`` and say nothing of others allow no other keys, strings without
    ``maxLength`` hold at most ANSWER_STRING_MAX characters, arrays without ``maxItems`` at
    most ANSWER_ARRAY_MAX items. What the schema itself says is kept (enums, bounds,
    an explicit ``additionalProperties``)."""
    if not isinstance(schema, dict):
        return schema
    node: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            node[key] = {name: closed_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_ONE:
            node[key] = closed_schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            node[key] = [closed_schema(sub) for sub in value]
        else:
            node[key] = value
    types = node.get("type")
    kinds = {t for t in types if isinstance(t, str)} if isinstance(types, list) else {types}
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not any(key in node for key in _COMPOSED)
    ):
        node["additionalProperties"] = False
    if "string" in kinds:
        node.setdefault("maxLength", ANSWER_STRING_MAX)
    if "array" in kinds:
        node.setdefault("maxItems", ANSWER_ARRAY_MAX)
    return node


def instance_problems(schema: dict[str, Any], data: Any) -> list[str]:
    """Where ``data`` violates ``schema``: sorted ``"path: message"`` strings, ``[]`` if valid."""
    validator = Draft202012Validator(schema)
    return sorted(_located(error.json_path, error.message) for error in validator.iter_errors(data))


def _located(path: str, message: str) -> str:
    # jsonschema quotes the offending value; a long transcript excerpt would drown the path.
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return f"{path}: {message}"


def chat_json(
    *,
    settings: LLMSettings,
    system: str,
    user: str,
    schema: dict[str, Any],
    schema_name: str,
    temperature: float = 0.0,
    session: requests.Session | None = None,
) -> LLMAnswer:
    """Ask the model for one JSON object that validates against ``schema``.

    ``user`` (the transcript) is cut to ``settings.max_input_chars`` keeping its end. Timeouts,
    connection errors, HTTP 429 and 5xx answers are retried ``settings.max_retries`` times with
    exponential backoff; anything else fails at once with an :class:`LLMError`. A schema that is
    not usable (see :func:`schema_problems`) is a programming error: ``ValueError``, no request.
    """
    if not settings.configured:
        raise LLMError(
            "not_configured",
            "the llm backend needs LLM_BASE_URL and LLM_MODEL",
            model=settings.model,
        )
    if settings.json_mode not in JSON_MODES:
        raise ValueError(f"json_mode must be one of {JSON_MODES}, got {settings.json_mode!r}")
    problems = schema_problems(schema)
    if problems:
        raise ValueError(f"schema {schema_name!r} is not usable: {'; '.join(problems)}")

    truncated = len(user) > settings.max_input_chars
    if truncated:
        user = user[len(user) - settings.max_input_chars :]
    if settings.json_mode == "json_schema":
        response_format: dict[str, Any] = {
            "type": "json_schema",
            "json_schema": {"name": schema_name, "schema": schema, "strict": True},
        }
    else:
        response_format = {"type": "json_object"}
        system = (
            f"{system}\n\nAnswer with one JSON object, and nothing else, that validates against "
            f"this JSON Schema:\n{json.dumps(schema, ensure_ascii=False)}"
        )
    payload = {
        "model": settings.model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
        "temperature": temperature,
        "response_format": response_format,
    }
    exchange = _Exchange(
        settings=settings,
        schema=schema,
        input_characters=len(system) + len(user),
        input_truncated=truncated,
    )
    if session is not None:
        return exchange.run(session, payload)
    with requests.Session() as own_session:
        return exchange.run(own_session, payload)


class _Exchange:
    """One chat_json call: its attempts, and the context every error carries."""

    def __init__(
        self,
        *,
        settings: LLMSettings,
        schema: dict[str, Any],
        input_characters: int,
        input_truncated: bool,
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.input_characters = input_characters
        self.input_truncated = input_truncated
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.shown_url = _display_url(self.url)
        self.attempt = 0
        self.latency_ms: int | None = None

    def run(self, session: requests.Session, payload: dict[str, Any]) -> LLMAnswer:
        headers = {"Accept": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        attempts_allowed = max(0, self.settings.max_retries) + 1
        while True:
            self.attempt += 1
            started = time.monotonic()
            retry_after: float | None = None
            try:
                response = session.post(
                    self.url, json=payload, headers=headers, timeout=self.settings.timeout_seconds
                )
            except requests.Timeout:
                self.latency_ms = _elapsed_ms(started)
                failure = self.error(
                    "timeout",
                    f"no answer from {self.shown_url} within {self.settings.timeout_seconds}s",
                )
            except _BAD_REQUEST_ERRORS as exc:
                self.latency_ms = _elapsed_ms(started)
                raise self.error("connection", f"cannot call {self.shown_url}: {exc}") from None
            except requests.RequestException as exc:
                self.latency_ms = _elapsed_ms(started)
                failure = self.error("connection", f"cannot reach {self.shown_url}: {exc}")
            else:
                self.latency_ms = _elapsed_ms(started)
                status = response.status_code
                if 200 <= status < 300:
                    return self.answer(response)
                body = _body_text(response)
                failure = self.error(
                    "http",
                    f"HTTP {status} from {self.shown_url}: {_snippet(body)}",
                    raw_text=body,
                    status=status,
                )
                if status != 429 and status < 500:
                    raise failure
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if self.attempt >= attempts_allowed:
                raise failure
            delay = retry_after if retry_after is not None else self.backoff()
            logger.warning(
                "llm call failed (%s, attempt %d of %d), retrying in %.2fs: %s",
                failure.kind,
                self.attempt,
                attempts_allowed,
                delay,
                failure.message,
            )
            time.sleep(delay)

    def backoff(self) -> float:
        delay = self.settings.backoff_seconds * 2 ** (self.attempt - 1)
        # A little jitter so workers that failed together do not retry in lockstep.
        return delay + random.uniform(0, delay / 10)

    def answer(self, response: requests.Response) -> LLMAnswer:
        body_text = _body_text(response)
        status = response.status_code
        try:
            body = json.loads(body_text)
        except ValueError:
            raise self.error(
                "protocol",
                f"the answer from {self.shown_url} is not JSON: {_snippet(body_text)}",
                raw_text=body_text,
                status=status,
            ) from None
        message = _first_message(body)
        if message is None:
            raise self.error(
                "protocol",
                f"the answer from {self.shown_url} is not a chat completion: {_snippet(body_text)}",
                raw_text=body_text,
                status=status,
            )
        model = body.get("model")
        model = model if isinstance(model, str) and model else self.settings.model
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        prompt_tokens = _count(usage.get("prompt_tokens"))
        completion_tokens = _count(usage.get("completion_tokens"))
        tokens = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise self.error(
                "refused",
                f"the model refused: {_snippet(refusal)}",
                raw_text=refusal,
                status=status,
                model=model,
                output_characters=len(refusal),
                **tokens,
            )
        content = _content_text(message.get("content"))
        if content is None:
            raise self.error(
                "protocol",
                "the completion has no text content",
                raw_text=body_text,
                status=status,
                model=model,
                **tokens,
            )
        try:
            data = json.loads(_unwrap(content), parse_constant=_reject_constant)
        except ValueError as exc:
            cut = " (cut at the token limit)" if _finish_reason(body) == "length" else ""
            raise self.error(
                "not_json",
                f"the model's answer is not JSON{cut}: {exc}",
                raw_text=content,
                status=status,
                model=model,
                output_characters=len(content),
                **tokens,
            ) from None
        problems = instance_problems(closed_schema(self.schema), data)
        if problems:
            raise self.error(
                "schema",
                f"the model's answer violates the schema: {'; '.join(problems[:5])}",
                raw_text=content,
                status=status,
                model=model,
                output_characters=len(content),
                schema_errors=problems,
                **tokens,
            )
        return LLMAnswer(
            data=data,
            content=content,
            model=model,
            latency_ms=self.latency_ms or 0,
            attempts=self.attempt,
            input_characters=self.input_characters,
            output_characters=len(content),
            input_truncated=self.input_truncated,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def error(
        self, kind: LLMErrorKind, message: str, *, raw_text: str = "", **details: Any
    ) -> LLMError:
        details.setdefault("model", self.settings.model)
        return LLMError(
            kind,
            self.redact(message),
            raw_text=self.redact(raw_text),
            latency_ms=self.latency_ms,
            attempts=self.attempt,
            input_characters=self.input_characters,
            input_truncated=self.input_truncated,
            **details,
        )

    def redact(self, text: str) -> str:
        # Proxies and misconfigured servers sometimes echo the request headers back.
        key = self.settings.api_key
        return text.replace(key, "[redacted]") if key else text


def _first_message(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    return message if isinstance(message, dict) else None


def _finish_reason(body: dict[str, Any]) -> Any:
    return body["choices"][0].get("finish_reason")


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    # Some servers answer with content parts even for plain text.
    if isinstance(content, list) and content:
        texts = [part.get("text") if isinstance(part, dict) else None for part in content]
        if all(isinstance(text, str) for text in texts):
            return "".join(str(text) for text in texts)
    return None


def _unwrap(content: str) -> str:
    text = _THINK.sub("", content).strip()
    fenced = _FENCE.match(text)
    return fenced.group("body") if fenced else text


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not valid JSON")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _body_text(response: requests.Response) -> str:
    # JSON is UTF-8 (RFC 8259); requests' charset guessing is slow and sometimes wrong.
    return response.content.decode("utf-8", errors="replace")


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


def _display_url(url: str) -> str:
    # Credentials may ride in the URL (user:password@host, ?key=...); messages show neither.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
