"""Twilio accounts, webhook ingest and handoff settings."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .env import get_bool, get_float, get_int, get_list, get_str


def auth_tokens(entries: list[str]) -> list[str]:
    """The entries of TWILIO_AUTH_TOKENS, each checked: an empty token would check signatures
    with an empty key, which anyone can compute."""
    for entry in entries:
        account, sep, token = entry.partition(":")
        if sep and not token.strip():
            raise ImproperlyConfigured(
                f"TWILIO_AUTH_TOKENS: the entry for {account.strip() or 'an account'} has no "
                "token after the colon; write AC...:<auth token>, or drop the entry."
            )
        if sep and not account.strip():
            raise ImproperlyConfigured(
                "TWILIO_AUTH_TOKENS: an entry starts with a colon; write AC...:<auth token>, "
                "or the bare token."
            )
    return entries


# Auth tokens that sign inbound webhooks. Several accounts (or a token being rotated) may be
# configured: "AC...:token" pairs or bare tokens, comma separated. TWILIO_AUTH_TOKEN adds one more.
TWILIO_ACCOUNT_SID = get_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKENS = auth_tokens(
    [
        *get_list("TWILIO_AUTH_TOKENS"),
        *([token] if (token := get_str("TWILIO_AUTH_TOKEN", "")) else []),
    ]
)

WEBHOOK_MAX_BODY_BYTES = get_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# The lean webhook entry point writes the rows of concurrent requests in one commit (on); off,
# each request inserts its own row on its thread's connection (to compare, or as a fallback).
WEBHOOK_GROUP_COMMIT = get_bool("WEBHOOK_GROUP_COMMIT", True)
# The group committer wakes the ingest workers at most once per this many milliseconds per
# process (the batches committed meanwhile share the next wake-up): a Redis round trip per
# batch otherwise, and at moderate rates a batch is a row or two. 0: after every batch.
WEBHOOK_WAKE_INTERVAL_MS = get_int("WEBHOOK_WAKE_INTERVAL_MS", 20, minimum=0)
INGEST_MAX_ATTEMPTS = get_int("INGEST_MAX_ATTEMPTS", 8, minimum=1)
# A claimed event whose worker vanished is handed out again after this many seconds.
INGEST_CLAIM_TIMEOUT = get_int("INGEST_CLAIM_TIMEOUT", 300, minimum=10)
INGEST_BATCH_SIZE = get_int("INGEST_BATCH_SIZE", 200, minimum=1)
# A drain whose claim came back short (the workers keep up) waits this long before claiming
# again, holding the wake flag meanwhile: at moderate rates the events of those milliseconds
# make one batch and one claim instead of a Celery wake-up and a drain each (docs/benchmarks.md,
# "CPU per event at moderate rates"). 0: claim again at once (a drain ends at its first empty
# claim, as before). compose.yaml sets 50.
INGEST_LINGER_MS = get_int("INGEST_LINGER_MS", 0, minimum=0)
INGEST_SWEEP_SECONDS = get_int("INGEST_SWEEP_SECONDS", 5, minimum=1)
# Processed and ignored events (raw bodies hold unredacted text) are deleted after this many days;
# failed, dead and rejected ones are kept for investigation. 0 keeps everything.
INBOX_RETENTION_DAYS = get_int("INBOX_RETENTION_DAYS", 30, minimum=0)

# TwiML answered to a ConversationRelay <Connect action> callback.
HANDOFF_WORKFLOW_SID = get_str("HANDOFF_WORKFLOW_SID", "")
HANDOFF_TASK_PRIORITY = get_int("HANDOFF_TASK_PRIORITY", 10, minimum=0)
HANDOFF_TASK_TIMEOUT = get_int("HANDOFF_TASK_TIMEOUT", 600, minimum=1)
# When the relay session failed: "enqueue" (same workflow, reason relay-failed) or "dial:<number>".
RELAY_FAILED_FALLBACK = get_str("RELAY_FAILED_FALLBACK", "enqueue")
RELAY_FAILED_MESSAGE = get_str(
    "RELAY_FAILED_MESSAGE", "Sorry, something went wrong. Connecting you to an agent now."
)

# REST calls to Twilio (publishing a rubric's script to Conversation Intelligence): the account's
# auth token, the same TWILIO_AUTH_TOKEN that signs its webhooks.
TWILIO_AUTH_TOKEN = get_str("TWILIO_AUTH_TOKEN", "")
# The Intelligence Configuration and rule whose Script Adherence operator takes a published
# rubric's script. Publishing to Twilio is off until both are set.
TWILIO_INTELLIGENCE_CONFIGURATION_ID = get_str("TWILIO_INTELLIGENCE_CONFIGURATION_ID", "")
TWILIO_INTELLIGENCE_RULE_ID = get_str("TWILIO_INTELLIGENCE_RULE_ID", "")
# Replaces https://intelligence.twilio.com (tests point it at a local server); empty: Twilio's.
TWILIO_API_BASE_URL = get_str("TWILIO_API_BASE_URL", "")

# The reference virtual agent (apps/agent): a pause between the streamed text tokens of a reply,
# as a language model's stream has (0: send them as fast as they are made).
VIRTUAL_AGENT_TOKEN_PACE_MS = get_int("VIRTUAL_AGENT_TOKEN_PACE_MS", 0, minimum=0)
# How long the virtual agent keeps the published knowledge articles before reading them again.
VIRTUAL_AGENT_KNOWLEDGE_SECONDS = get_int("VIRTUAL_AGENT_KNOWLEDGE_SECONDS", 30, minimum=0)
# Who answers the caller: "offline" (retrieval over the published knowledge articles) or "llm"
# (the user's own OpenAI-compatible model at LLM_BASE_URL / LLM_MODEL / LLM_API_KEY, the same
# settings as the llm operators: streamed, with tools for knowledge lookup and handoff).
VIRTUAL_AGENT_BACKEND = get_str("VIRTUAL_AGENT_BACKEND", "offline")
if VIRTUAL_AGENT_BACKEND not in {"offline", "llm"}:
    raise ImproperlyConfigured(
        f"VIRTUAL_AGENT_BACKEND must be 'offline' or 'llm', got {VIRTUAL_AGENT_BACKEND!r}."
    )
if VIRTUAL_AGENT_BACKEND == "llm" and not (
    get_str("LLM_BASE_URL", "") and get_str("LLM_MODEL", "")
):
    raise ImproperlyConfigured("VIRTUAL_AGENT_BACKEND=llm needs LLM_BASE_URL and LLM_MODEL.")
# The LLM path's longest wait for the model to connect, to start its answer and between two
# chunks of it; then the caller is handed off (no retry: a caller waits in silence meanwhile).
VIRTUAL_AGENT_LLM_TIMEOUT_SECONDS = get_float("VIRTUAL_AGENT_LLM_TIMEOUT_SECONDS", 8.0)
# The call's last this-many lines (caller and agent) go to the model with the system prompt.
VIRTUAL_AGENT_LLM_HISTORY_MESSAGES = get_int("VIRTUAL_AGENT_LLM_HISTORY_MESSAGES", 12, minimum=1)
