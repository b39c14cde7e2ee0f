"""Language operators run by ccportal itself (the "llm" backend) and outgoing rule webhooks."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .env import get_int, get_str

# Any OpenAI-compatible chat-completions endpoint, up to and including /v1 (Ollama:
# "http://localhost:11434/v1", vLLM, llama.cpp server, OpenAI itself). Empty: the llm backend is
# not configured and its operators fail with "not_configured" instead of calling anything.
LLM_BASE_URL = get_str("LLM_BASE_URL", "")
# The model name sent with every request; also required for the backend to count as configured.
LLM_MODEL = get_str("LLM_MODEL", "")
# Sent as "Authorization: Bearer <key>" when set; local servers usually need none.
LLM_API_KEY = get_str("LLM_API_KEY", "")
# Per attempt: the longest wait for the server to connect or to send the next bytes of its answer.
LLM_TIMEOUT_SECONDS = get_int("LLM_TIMEOUT_SECONDS", 30, minimum=1)
# Extra attempts after a timeout, a connection error, HTTP 429 or a 5xx answer (never after other
# 4xx answers or an answer that is not the JSON asked for).
LLM_MAX_RETRIES = get_int("LLM_MAX_RETRIES", 2, minimum=0)
# A transcript longer than this many characters is cut from its start: recent turns matter most.
LLM_MAX_INPUT_CHARS = get_int("LLM_MAX_INPUT_CHARS", 24_000, minimum=1)
# How structured output is asked for: "json_schema" (response_format with the schema, strict) or
# "json_object" for servers that only know {"type": "json_object"} (the schema then goes into the
# system prompt and is checked on our side only).
LLM_JSON_MODE = get_str("LLM_JSON_MODE", "json_schema")
if LLM_JSON_MODE not in {"json_schema", "json_object"}:
    raise ImproperlyConfigured(
        f"LLM_JSON_MODE must be 'json_schema' or 'json_object', got {LLM_JSON_MODE!r}."
    )

# Signs the bodies of outgoing rule webhooks (HMAC) of rules without a secret of their own, so
# receivers can tell they came from us. Empty: every rule with a webhook needs its own secret.
INTELLIGENCE_WEBHOOK_SECRET = get_str("INTELLIGENCE_WEBHOOK_SECRET", "")
# The longest wait for a rule webhook's receiver, per attempt.
INTELLIGENCE_WEBHOOK_TIMEOUT_SECONDS = get_int(
    "INTELLIGENCE_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1
)
