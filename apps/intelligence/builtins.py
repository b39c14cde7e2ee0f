"""What a new install starts with: the four built-in operators and the default rules.

Plain data, read by ``services.defaults_ensure`` (run after ``migrate`` and by ``load_demo``),
which creates what is missing and leaves everything an admin changed alone.
"""

from __future__ import annotations

from typing import Any

from .choices import OperatorKind, TriggerOn
from .models import OutputFormat

_LABEL = {"type": "string", "enum": ["positive", "negative", "neutral", "mixed"]}
_SCORE = {"type": "number", "minimum": -1, "maximum": 1}

SENTIMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["label", "score"],
    "properties": {
        "label": _LABEL,
        "score": _SCORE,
        "communications": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "label", "score"],
                "properties": {"id": {"type": "string"}, "label": _LABEL, "score": _SCORE},
            },
        },
        "customer": {"type": ["object", "null"]},
        "agent": {"type": ["object", "null"]},
        "delta": {"type": ["object", "null"]},
    },
}

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string"},
        "final": {"type": "boolean"},
        "communication_ids": {"type": "array", "items": {"type": "string"}},
    },
}

NEXT_BEST_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["text", "article"],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "article": {
            "type": ["object", "null"],
            "required": ["id", "title"],
            "properties": {"id": {"type": "integer"}, "title": {"type": "string"}},
        },
        "in_reply_to": {"type": ["string", "null"]},
        "alternatives": {"type": "array"},
    },
}

_CRITERION = {
    "type": "object",
    "required": ["criteria_key", "criteria_met"],
    "properties": {
        "criteria_key": {"type": "string"},
        "criteria_met": {
            "type": "string",
            "enum": ["Succeeded", "Failed", "Pending", "NotApplicable"],
        },
        "evidence": {"type": "array"},
    },
}

SCRIPT_ADHERENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["categories"],
    "properties": {
        "categories": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["category_key", "criteria"],
                "properties": {
                    "category_key": {"type": "string"},
                    "criteria": {"type": "array", "items": _CRITERION},
                },
            },
        },
        "score": {"type": ["number", "null"]},
        "explanation": {"type": "string"},
        "rubric": {"type": ["object", "null"]},
    },
}

CLASSIFICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["label"],
    "properties": {"label": {"type": "string"}, "matches": {"type": "array"}},
}

EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["entities"],
    "properties": {
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["text", "label"],
                "properties": {"text": {"type": "string"}, "label": {"type": "string"}},
            },
        }
    },
}

SCHEMAS_BY_KIND: dict[str, dict[str, Any]] = {
    OperatorKind.SENTIMENT: SENTIMENT_SCHEMA,
    OperatorKind.SUMMARY: SUMMARY_SCHEMA,
    OperatorKind.NEXT_BEST_RESPONSE: NEXT_BEST_RESPONSE_SCHEMA,
    OperatorKind.SCRIPT_ADHERENCE: SCRIPT_ADHERENCE_SCHEMA,
    OperatorKind.CLASSIFIER: CLASSIFICATION_SCHEMA,
    OperatorKind.EXTRACTOR: EXTRACTION_SCHEMA,
}

FORMAT_BY_KIND: dict[str, str] = {
    OperatorKind.SENTIMENT: OutputFormat.CLASSIFICATION,
    OperatorKind.SUMMARY: OutputFormat.TEXT,
    OperatorKind.NEXT_BEST_RESPONSE: OutputFormat.JSON,
    OperatorKind.SCRIPT_ADHERENCE: OutputFormat.JSON,
    OperatorKind.CLASSIFIER: OutputFormat.CLASSIFICATION,
    OperatorKind.EXTRACTOR: OutputFormat.EXTRACTION,
    OperatorKind.LLM_PROMPT: OutputFormat.JSON,
}

BUILTIN_OPERATORS: tuple[dict[str, Any], ...] = (
    {
        "key": "sentiment",
        "name": "Sentiment",
        "kind": OperatorKind.SENTIMENT,
        "description": (
            "Sentiment of every communication and of the conversation so far (cumulative), "
            "with the change between its first and last 30 seconds."
        ),
        "parameters": {"delta_window_seconds": 30},
    },
    {
        "key": "summary",
        "name": "Summary",
        "kind": OperatorKind.SUMMARY,
        "description": "A short summary: rolling during the conversation, final at its end.",
        "parameters": {"max_sentences": 4, "max_chars": 600},
    },
    {
        "key": "next-best-response",
        "name": "Next Best Response",
        "kind": OperatorKind.NEXT_BEST_RESPONSE,
        "description": (
            "A suggested agent reply to the customer's latest turn, grounded in the knowledge "
            "base and citing the article it used."
        ),
        "parameters": {"candidates": 3},
    },
    {
        "key": "script-adherence",
        "name": "Script Adherence",
        "kind": OperatorKind.SCRIPT_ADHERENCE,
        "description": (
            "Checks the agent against the rubric version pinned to the conversation: per "
            "criterion met / not met / N/A with evidence, and the weighted score."
        ),
        # rubric_id None: the only rubric with a published version, if there is exactly one.
        "parameters": {"rubric_id": None},
    },
)

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "key": "live-sentiment-adherence",
        "name": "Live sentiment and script adherence",
        "description": "Runs on every communication and pushes the results to open pages.",
        "trigger_on": TriggerOn.COMMUNICATION,
        "every_n": 1,
        "operators": ("sentiment", "script-adherence"),
        "broadcast": True,
    },
    {
        "key": "summary-at-end",
        "name": "Summary at conversation end",
        "description": "The final summary once the conversation is closed.",
        "trigger_on": TriggerOn.CONVERSATION_END,
        "every_n": 1,
        "operators": ("summary",),
        "broadcast": True,
    },
    {
        "key": "rolling-summary",
        "name": "Rolling summary",
        "description": "A summary of the conversation so far, every five communications.",
        "trigger_on": TriggerOn.COMMUNICATION,
        "every_n": 5,
        "operators": ("summary",),
        "broadcast": True,
    },
    {
        "key": "live-suggestions",
        "name": "Live suggestions for agents",
        "description": "A next best response after every communication, from the knowledge base.",
        "trigger_on": TriggerOn.COMMUNICATION,
        "every_n": 1,
        "operators": ("next-best-response",),
        "broadcast": True,
    },
)
