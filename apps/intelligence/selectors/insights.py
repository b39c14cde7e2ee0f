"""What the conversation page shows of the language operators: one read, shaped for templates.

``conversation_insights`` reads every operator result of a conversation in one query and its
open flags in another, whatever the number of results, and turns them into plain dataclasses:
the latest sentiment (with every line's own, merged over all executions: each execution only
scores the lines of its window), the latest summary, the latest script adherence checklist,
the newest suggestions, the open flags and a row per result.

Results come from two places with different shapes: ccportal's own operators (classified by
their definition's kind) and Twilio Conversation Intelligence (classified by operator name).
Anything unexpected in a result is skipped, never an error: the page must always render.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse

from apps.conversations import selectors as conversations

from ..choices import FlagStatus, OperatorKind, ResultStatus, TriggerOn
from ..models import Flag, OperatorResult, ResultSource

if TYPE_CHECKING:
    from apps.conversations.models import Communication, Conversation

SUGGESTIONS_SHOWN = 3
RESULTS_SHOWN = 100  # a live call stores a few results per line; older rows are summarised

# label -> Bootstrap colour and icon
_TONES: dict[str, tuple[str, str]] = {
    "positive": ("success", "bi-emoji-smile"),
    "negative": ("danger", "bi-emoji-frown"),
    "neutral": ("secondary", "bi-emoji-neutral"),
    "mixed": ("warning", "bi-emoji-expressionless"),
}
# criteria_met -> label, Bootstrap colour, icon
_CRITERIA: dict[str, tuple[str, str, str]] = {
    "Succeeded": ("Met", "success", "bi-check-circle-fill"),
    "Failed": ("Not met", "danger", "bi-x-circle-fill"),
    "Pending": ("Pending", "warning", "bi-hourglass-split"),
    "NotApplicable": ("Not applicable", "secondary", "bi-dash-circle"),
}
_UNKNOWN_CRITERION = ("Unknown", "secondary", "bi-question-circle")
# The embedded checks give a reason code (apps.rubrics.checks); a language model gives prose.
CRITERION_REASONS: dict[str, str] = {
    "phrases_found": "Required phrases said.",
    "phrase_missing": "A required phrase was not said.",
    "spoke_in_window": "The agent spoke within the time window.",
    "silent_in_window": "The agent did not speak within the time window.",
    "agent_silent": "The agent has not spoken.",
    "no_check": "No automatic check: a reviewer decides.",
    "not_for_participant": "Does not apply to this kind of agent.",
    "similar_line": "An agent line is close in meaning to the expected action.",
    "no_similar_line": "No agent line is close enough in meaning to the expected action.",
    "na_rule": "The caller's request matches the criterion's N/A rule.",
    "nothing_to_judge": "Nothing was said to judge.",
}
# Twilio's operators are known by name only: "Sentiment", "Summary", "Script Adherence"...
_TWILIO_KINDS: tuple[tuple[str, str], ...] = (
    ("sentiment", OperatorKind.SENTIMENT),
    ("summary", OperatorKind.SUMMARY),
    ("adherence", OperatorKind.SCRIPT_ADHERENCE),
    ("next best", OperatorKind.NEXT_BEST_RESPONSE),
)
_TRIGGERS = dict(TriggerOn.choices)


@dataclass(frozen=True)
class Tone:
    label: str
    score: float | None
    colour: str
    icon: str

    @property
    def title(self) -> str:
        if self.score is None:
            return f"Sentiment: {self.label}"
        return f"Sentiment: {self.label} (score {self.score:+.2f})"


@dataclass(frozen=True)
class Trend:
    """How the mood moved between the first and the last ``window_seconds`` of the call."""

    first: float
    last: float
    delta: float
    window_seconds: int

    @property
    def direction(self) -> str:
        if abs(self.delta) < 0.05:
            return "steady"
        return "improving" if self.delta > 0 else "worsening"


@dataclass(frozen=True)
class Sentiment:
    overall: Tone
    customer: Tone | None
    agent: Tone | None
    trend: Trend | None
    when: datetime | None
    source: str


@dataclass(frozen=True)
class Summary:
    text: str
    final: bool | None  # None: the source does not say (Twilio)
    when: datetime | None
    source: str


@dataclass(frozen=True)
class Evidence:
    quote: str
    line: str
    anchor: str | None  # "comm-<pk>" of a line on this page
    found: bool  # False: the closest line to a phrase that was not said
    score: float | None


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    met: str
    status: str
    colour: str
    icon: str
    reason: str
    kind: str
    evidence: list[Evidence]
    # A criterion that must happen within a time window: when its window closes, in ms from the
    # conversation's start (the page counts down while the criterion is still pending).
    window_end_ms: int | None = None

    @property
    def window_end_s(self) -> int | None:
        return None if self.window_end_ms is None else round(self.window_end_ms / 1000)


@dataclass(frozen=True)
class Category:
    name: str
    criteria: list[Criterion]


@dataclass(frozen=True)
class Adherence:
    rubric: str
    version: Any
    score: float | None
    weighted_score: float | None
    passed_critical: bool | None
    final: bool | None
    explanation: str
    categories: list[Category]
    counts: dict[str, int]
    when: datetime | None
    source: str


@dataclass(frozen=True)
class Suggestion:
    text: str
    article_title: str
    article_url: str | None
    reply_to_text: str
    reply_to_anchor: str | None
    when: datetime | None


@dataclass(frozen=True)
class ResultRow:
    pk: int
    operator: str
    kind: str | None
    version: str
    source: str
    source_label: str
    backend: str
    trigger: str
    rule: str
    status: str
    error: str
    when: datetime | None
    latency_ms: Any
    model: str
    raw_json: str
    raw_output: str


@dataclass
class _Line:
    pk: int
    text: str


@dataclass
class _Collected:
    line_sentiment: dict[str, Tone] = field(default_factory=dict)
    sentiment: Sentiment | None = None
    summary: Summary | None = None
    adherence: Adherence | None = None
    suggestions: list[Suggestion] = field(default_factory=list)


def _when(result: OperatorResult) -> datetime:
    # Twilio's dateCreated may be missing; the row's own time is always there.
    return result.date_created or result.created_at


def kind_of(result: OperatorResult) -> str | None:
    """The operator kind: from ccportal's definition, else guessed from Twilio's operator name."""
    if result.definition is not None:
        return str(result.definition.operator.kind)
    name = " ".join(
        (result.operator_name or "").lower().replace("-", " ").replace("_", " ").split()
    )
    for needle, kind in _TWILIO_KINDS:
        if needle in name:
            return kind
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tone(value: Any) -> Tone | None:
    if not isinstance(value, dict) or not isinstance(value.get("label"), str):
        return None
    label = value["label"].strip().lower()
    if not label:
        return None
    colour, icon = _TONES.get(label, ("info", "bi-emoji-neutral"))
    return Tone(label=label, score=_number(value.get("score")), colour=colour, icon=icon)


def _trend(value: Any) -> Trend | None:
    if not isinstance(value, dict):
        return None
    first, last, delta = (_number(value.get(key)) for key in ("first", "last", "delta"))
    if first is None or last is None or delta is None:
        return None
    seconds = value.get("window_seconds")
    return Trend(
        first=first,
        last=last,
        delta=delta,
        window_seconds=seconds if isinstance(seconds, int) else 30,
    )


def _article_url(article_id: Any) -> str | None:
    if not isinstance(article_id, int):
        return None
    try:  # the knowledge pages may not be installed: then the title is plain text
        return reverse("knowledge-detail", args=[article_id])
    except NoReverseMatch:
        return None


def _evidence(items: Any, lines: dict[str, _Line], line_pks: set[int]) -> list[Evidence]:
    found: list[Evidence] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        pk = item.get("communication_pk")
        if not isinstance(pk, int) or pk not in line_pks:
            line = lines.get(str(item.get("communication_id") or ""))
            pk = line.pk if line else None
        quote = str(item.get("quote") or item.get("line") or "")
        found.append(
            Evidence(
                quote=quote,
                line=str(item.get("line") or ""),
                anchor=f"comm-{pk}" if pk is not None else None,
                found=bool(item.get("found", True)),
                score=_number(item.get("score")),
            )
        )
    return found


def _window_end(window: Any) -> int | None:
    end = window.get("end_ms") if isinstance(window, dict) else None
    return end if isinstance(end, int) and not isinstance(end, bool) and end >= 0 else None


def _adherence(result: OperatorResult, lines: dict[str, _Line]) -> Adherence | None:
    data = result.result
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        return None
    line_pks = {line.pk for line in lines.values()}
    categories: list[Category] = []
    counts = {"Succeeded": 0, "Failed": 0, "Pending": 0, "NotApplicable": 0}
    for category in data["categories"]:
        if not isinstance(category, dict):
            continue
        criteria: list[Criterion] = []
        for item in category.get("criteria") or []:
            if not isinstance(item, dict):
                continue
            met = str(item.get("criteria_met") or "")
            status, colour, icon = _CRITERIA.get(met, _UNKNOWN_CRITERION)
            if met in counts:
                counts[met] += 1
            key = str(item.get("criteria_key") or "")
            criteria.append(
                Criterion(
                    key=key,
                    name=str(item.get("name") or key.replace("_", " ").capitalize()),
                    met=met,
                    status=status,
                    colour=colour,
                    icon=icon,
                    reason=CRITERION_REASONS.get(
                        str(item.get("reason") or ""), str(item.get("reason") or "")
                    ),
                    kind=str(item.get("kind") or ""),
                    evidence=_evidence(item.get("evidence"), lines, line_pks),
                    window_end_ms=_window_end(item.get("window")),
                )
            )
        name = str(category.get("category_key") or category.get("section_key") or "")
        categories.append(Category(name=name, criteria=criteria))
    rubric = _dict(data.get("rubric"))
    pinned = result.rubric_version
    final = data.get("final")
    return Adherence(
        rubric=str(rubric.get("name") or (pinned.rubric.name if pinned else "") or ""),
        version=rubric.get("version") or (pinned.number if pinned else None),
        score=_number(data.get("score")),
        weighted_score=_number(data.get("weighted_score")),
        passed_critical=data.get("passed_critical")
        if isinstance(data.get("passed_critical"), bool)
        else None,
        final=final if isinstance(final, bool) else None,
        explanation=str(data.get("explanation") or ""),
        categories=categories,
        counts=counts,
        when=_when(result),
        source=result.source,
    )


def _suggestion(result: OperatorResult, lines: dict[str, _Line]) -> Suggestion | None:
    data = result.result
    if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data["text"]:
        return None
    article = _dict(data.get("article"))
    reply_to = lines.get(str(data.get("in_reply_to") or ""))
    return Suggestion(
        text=data["text"],
        article_title=str(article.get("title") or ""),
        article_url=_article_url(article.get("id")),
        reply_to_text=reply_to.text if reply_to else "",
        reply_to_anchor=f"comm-{reply_to.pk}" if reply_to else None,
        when=_when(result),
    )


def _collect(results: Iterable[OperatorResult], lines: dict[str, _Line]) -> _Collected:
    """Walk the results oldest first, so the newest of each kind wins."""
    seen = _Collected()
    suggestions: list[Suggestion] = []
    for result in results:
        if result.status != ResultStatus.OK or not isinstance(result.result, dict):
            continue
        kind = kind_of(result)
        data = result.result
        if kind == OperatorKind.SENTIMENT:
            overall = _tone(data)
            if overall is None:
                continue
            for item in data.get("communications") or []:
                tone = _tone(item)
                if tone is not None and isinstance(item.get("id"), str):
                    seen.line_sentiment[item["id"]] = tone
            seen.sentiment = Sentiment(
                overall=overall,
                customer=_tone(data.get("customer")),
                agent=_tone(data.get("agent")),
                trend=_trend(data.get("delta")),
                when=_when(result),
                source=result.source,
            )
        elif kind == OperatorKind.SUMMARY:
            if isinstance(data.get("text"), str) and data["text"].strip():
                final = data.get("final")
                seen.summary = Summary(
                    text=data["text"],
                    final=final if isinstance(final, bool) else None,
                    when=_when(result),
                    source=result.source,
                )
        elif kind == OperatorKind.SCRIPT_ADHERENCE:
            seen.adherence = _adherence(result, lines) or seen.adherence
        elif kind == OperatorKind.NEXT_BEST_RESPONSE:
            suggestion = _suggestion(result, lines)
            if suggestion is not None:
                suggestions.append(suggestion)
    seen.suggestions = suggestions[-SUGGESTIONS_SHOWN:][::-1]
    return seen


def _row(result: OperatorResult) -> ResultRow:
    definition = result.definition
    system = _dict(_dict(result.metadata).get("system"))
    if definition is not None:
        operator = definition.operator.name
        backend = definition.get_backend_display()
        version = result.operator_version or str(definition.number)
    else:
        operator = result.operator_name or result.operator_id
        backend = "Twilio" if result.source == ResultSource.TWILIO else ""
        version = result.operator_version
    execution = result.execution
    raw = json.dumps(result.result, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return ResultRow(
        pk=result.pk,
        operator=operator,
        kind=kind_of(result),
        version=version,
        source=result.source,
        source_label="Twilio" if result.source == ResultSource.TWILIO else "ccportal",
        backend=backend,
        trigger=_TRIGGERS.get(result.trigger_on, result.trigger_on),
        rule=execution.rule.name if execution is not None else "",
        status=result.status,
        error=result.error,
        when=_when(result),
        latency_ms=system.get("latencyMs"),
        model=str(system.get("model") or ""),
        raw_json=raw,
        raw_output=result.raw_output,
    )


def _lines(conversation: Conversation, lines: Sequence[Communication] | None) -> dict[str, _Line]:
    if lines is None:
        rows = conversations.transcript_rows(conversation_id=conversation.pk)
        return {row.twilio_id: _Line(pk=row.pk, text=row.text) for row in rows}
    return {line.twilio_id: _Line(pk=line.pk, text=line.text) for line in lines}


def results_for_conversation(*, conversation: Conversation) -> QuerySet[OperatorResult]:
    return (
        OperatorResult.objects.filter(conversation=conversation)
        .select_related("definition__operator", "execution__rule", "rubric_version__rubric")
        .order_by("date_created", "id")
    )


def open_flags(*, conversation: Conversation) -> QuerySet[Flag]:
    return (
        Flag.objects.filter(conversation=conversation, status=FlagStatus.OPEN)
        .select_related("rule")
        .order_by("-updated_at", "-id")
    )


def conversation_insights(
    *, conversation: Conversation, lines: Sequence[Communication] | None = None
) -> dict[str, Any]:
    """Everything the insights panel shows, in two queries (three without ``lines``).

    ``lines`` are the transcript the page already loaded; they resolve the communications a
    result names (evidence, the line a suggestion answers) to anchors on the page.
    """
    by_twilio_id = _lines(conversation, lines)
    results = sorted(
        results_for_conversation(conversation=conversation),
        key=lambda result: (_when(result), result.pk),
    )
    collected = _collect(results, by_twilio_id)
    flags = list(open_flags(conversation=conversation))
    rows = [_row(result) for result in reversed(results[-RESULTS_SHOWN:])]
    return {
        "sentiment": collected.sentiment,
        "line_sentiment": collected.line_sentiment,
        "summary": collected.summary,
        "adherence": collected.adherence,
        "suggestions": collected.suggestions,
        "flags": flags,
        "results": rows,
        "result_count": len(results),
        "results_hidden": max(len(results) - RESULTS_SHOWN, 0),
        "has_any": bool(results or flags),
    }
