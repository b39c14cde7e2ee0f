"""The embedded backend: offline, deterministic operators (no network, no model download).

Sentiment is VADER per communication; the conversation label is cumulative over the customer's
turns. Summary is extractive. Next Best Response searches the knowledge base with PostgreSQL
full-text search (through ``OperatorContext.knowledge_search``) and answers with the article's
best-matching sentence. Script Adherence runs the rubric checks of ``apps.rubrics.checks``
(rapidfuzz phrases, time windows) and scores with the rubric's maths. Classifiers and
extractors run the admin's phrases, keywords and regular expressions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.rubrics import checks as rubric_checks
from apps.rubrics import scoring, semantic
from apps.rubrics.choices import Outcome
from apps.rubrics.structure import RubricStructure

from ..choices import OperatorKind
from ..nlp import patterns, sentiment, summary, text
from .base import OperatorContext, OperatorError, OperatorOutput, OperatorSpec, TranscriptLine

# Per-process sentiment of the lines of the conversations in progress: an execution re-reads the
# whole conversation, and its earlier lines were scored by earlier executions in this process.
# Kept per conversation and dropped when its conversation ends here or has not been seen for
# LINE_CACHE_IDLE_SECONDS (its other executions, the final one included, may run in another
# process), so the memory follows the calls in progress instead of filling a bound: a FIFO of
# 50,000 lines took 23 MB per process, filled over ~4 minutes at 250 events/s and held lines
# of calls long closed (docs/benchmarks.md, "Soak", "The operators' memory").
LINE_CACHE_IDLE_SECONDS = 60.0
LINE_CACHE_MAX_CONVERSATIONS = 20_000  # a backstop: ~8 times the calls in progress at 1,000/s


@dataclass(slots=True)
class _Lines:
    seen: float
    # None for a line that is no speech (``text.is_speech``): decided once per line too
    scores: dict[int, tuple[str, sentiment.Sentiment | None]] = field(default_factory=dict)


_LINES: dict[int, _Lines] = {}  # conversation id -> its lines' sentiment; least recent first
_LINE_MISSES = 0
_now = time.monotonic


def _conversation_lines(conversation_id: int) -> _Lines:
    now = _now()
    entry = _LINES.pop(conversation_id, None)
    if entry is None:
        entry = _Lines(seen=now)
    entry.seen = now
    _LINES[conversation_id] = entry  # to the end: the dict stays ordered by last use
    cutoff = now - LINE_CACHE_IDLE_SECONDS
    while _LINES:
        oldest_id, oldest = next(iter(_LINES.items()))
        if oldest.seen >= cutoff and len(_LINES) <= LINE_CACHE_MAX_CONVERSATIONS:
            break
        del _LINES[oldest_id]
    return entry


def _sentiment_lookup(entry: _Lines, line: TranscriptLine) -> sentiment.Sentiment | None:
    """The line's sentiment, None when it is no speech."""
    global _LINE_MISSES
    cached = entry.scores.get(line.pk)
    if cached is not None and cached[0] == line.text:  # an edited line is scored again
        return cached[1]
    _LINE_MISSES += 1
    value = sentiment.sentiment_of(line.text) if text.is_speech(line.text) else None
    entry.scores[line.pk] = (line.text, value)
    return value


def line_cache_size() -> int:
    """Lines held by this process's sentiment cache (benchmarks)."""
    return sum(len(entry.scores) for entry in _LINES.values())


def line_cache_misses() -> int:
    return _LINE_MISSES


def line_cache_clear() -> None:
    _LINES.clear()


def _item(value: sentiment.Sentiment | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"label": value.label, "score": round(value.score, 4)}


def run_sentiment(spec: OperatorSpec, ctx: OperatorContext) -> OperatorOutput | None:
    entry = _conversation_lines(ctx.conversation_id)
    scored = [
        (line, value) for line in ctx.lines if (value := _sentiment_lookup(entry, line)) is not None
    ]
    if ctx.final:
        _LINES.pop(ctx.conversation_id, None)
    if not scored:
        return None
    customer = [value for line, value in scored if line.role == "customer"]
    agent = [value for line, value in scored if line.role == "agent"]
    overall = (
        sentiment.cumulative(customer)
        if customer
        else sentiment.cumulative([value for _, value in scored])
    )
    window_ids = {line.pk for line in ctx.window}
    seconds = int(spec.parameters.get("delta_window_seconds") or 30)
    change = sentiment.delta(
        [
            (line.offset_ms, line.duration_ms, value)
            for line, value in scored
            if line.role == "customer" or not customer
        ],
        window_ms=seconds * 1000,
    )
    result = {
        "label": overall.label,
        "score": round(overall.score, 4),
        "communications": [
            {"id": line.twilio_id, "label": value.label, "score": round(value.score, 4)}
            for line, value in scored
            if line.pk in window_ids
        ],
        "customer": _item(sentiment.cumulative(customer)) if customer else None,
        "agent": _item(sentiment.cumulative(agent)) if agent else None,
        "delta": {
            "first": change.first,
            "last": change.last,
            "delta": change.delta,
            "window_seconds": seconds,
        },
    }
    return OperatorOutput(output_format=spec.output_format, result=result)


def run_summary(spec: OperatorSpec, ctx: OperatorContext) -> OperatorOutput | None:
    lines = [line for line in ctx.lines if text.is_speech(line.text)]
    if not lines:
        return None
    made = summary.summarize(
        [(line.role, line.text) for line in lines],
        max_sentences=int(spec.parameters.get("max_sentences") or 4),
        max_chars=int(spec.parameters.get("max_chars") or 600),
        final=ctx.final,
    )
    if not made.text:
        return None
    result = {
        "text": made.text,
        "final": ctx.final,
        "communication_ids": [lines[index].twilio_id for index in made.line_indexes],
    }
    observations = [f"Last conversation: {made.text}"] if ctx.final else []
    return OperatorOutput(
        output_format=spec.output_format, result=result, observations=observations
    )


# Spoken digits (account numbers, amounts) say nothing about which article helps.
_NUMBER_WORDS = text.word_set(
    """zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred thousand million"""
)


def _query_words(said: str) -> list[str]:
    return [
        w
        for w in text.content_words(said)
        if len(w) > 2 and w not in _NUMBER_WORDS and not w.isdigit()
    ]


_SORRY = "I'm sorry about that."
_SURE = "Sure, I can help with that."


def customer_turn(ctx: OperatorContext) -> list[TranscriptLine]:
    """The customer's latest turn (consecutive customer lines), if the newest line is theirs."""
    spoken = [line for line in ctx.lines if text.is_speech(line.text)]
    if not spoken or spoken[-1].role != "customer":
        return []
    turn: list[TranscriptLine] = []
    for line in reversed(spoken):
        if line.role != "customer":
            break
        turn.append(line)
    return list(reversed(turn))


def _best_sentence(body: str, query_words: set[str]) -> str:
    best, best_score = "", -1
    for sentence in text.sentences(body):
        score = len(query_words & set(text.words(sentence)))
        if score > best_score:
            best, best_score = sentence.strip(), score
    return best


def next_best_response_search(
    spec: OperatorSpec, ctx: OperatorContext
) -> tuple[list[TranscriptLine], list[str], int] | None:
    """What a Next Best Response run looks up first: the customer's turn, its words and how
    many articles; None when it has nothing to suggest (the engine prefetches a batch's
    searches with this, ``knowledge_search_many``)."""
    turn = customer_turn(ctx)
    if not turn or not ctx.window or ctx.window[-1].pk != turn[-1].pk:
        return None  # only right after the customer spoke
    words = _query_words(" ".join(line.text for line in turn))
    if not words:
        return None  # "yes", "okay bye": nothing to look up, nothing to suggest
    return turn, words, int(spec.parameters.get("candidates") or 3)


def next_best_response_retry(ctx: OperatorContext, words: list[str]) -> str:
    """What Next Best Response looks up when the turn's own words found nothing."""
    # A short answer ("the debit one") makes sense with what the customer said before.
    earlier = " ".join(line.text for line in ctx.lines if line.role == "customer")
    return " ".join(dict.fromkeys(words + _query_words(earlier)))


def run_next_best_response(spec: OperatorSpec, ctx: OperatorContext) -> OperatorOutput | None:
    found = next_best_response_search(spec, ctx)
    if found is None:
        return None
    turn, words, limit = found
    said = " ".join(line.text for line in turn)
    search = ctx.knowledge_search
    hits = search(" ".join(words), limit) if search else []
    if not hits and search:
        hits = search(next_best_response_retry(ctx, words), limit)
    mood = sentiment.sentiment_of(said)
    opener = _SORRY if mood.label == "negative" else _SURE
    if hits:
        top = hits[0]
        answer = f"{opener} {_best_sentence(top.body, set(words))}".strip()
        article: dict[str, Any] | None = {"id": top.id, "title": top.title}
    else:
        answer = f"{opener} Could you tell me a bit more about what you need?"
        article = None
    result = {
        "text": answer,
        "article": article,
        "in_reply_to": turn[-1].twilio_id,
        "alternatives": [
            {"id": hit.id, "title": hit.title, "rank": round(hit.rank, 4)} for hit in hits[1:]
        ],
    }
    return OperatorOutput(output_format=spec.output_format, result=result)


_TWILIO_VALUE: dict[str, str] = {
    Outcome.MET: "Succeeded",
    Outcome.NOT_MET: "Failed",
    Outcome.NA: "NotApplicable",
}


def _percent(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 2))


def run_script_adherence(spec: OperatorSpec, ctx: OperatorContext) -> OperatorOutput | None:
    pinned = ctx.rubric_for(spec) if ctx.rubric_for else None
    if pinned is None:
        return OperatorOutput.skipped(
            spec.output_format,
            "No rubric to check against: publish a rubric, or choose one in this operator's "
            "settings.",
        )
    structure = pinned.structure
    by_pk = {line.pk: line for line in ctx.lines}
    lines = [
        rubric_checks.Line(line.pk, line.author_type, line.offset_ms, line.text)
        for line in ctx.lines
    ]
    results = rubric_checks.check_conversation(
        structure,
        lines,
        participant_type=ctx.agent_type,
        semantic_thresholds=semantic.thresholds_from(spec.parameters),
    )
    latest_ms = max((line.offset_ms or 0 for line in ctx.lines), default=0)
    # A criterion with nothing to check automatically (no phrases, no window) is left to a
    # reviewer or a language model: it is not scored here, rather than counted as failed.
    unchecked = {c.key for c in results if c.reason == rubric_checks.REASON_NO_CHECK}
    outcomes = {c.key: c.outcome for c in results if c.key not in unchecked}
    scored = _score(structure, unchecked, outcomes, ctx.agent_type)
    by_section: dict[str, list[dict[str, Any]]] = {}
    pending = 0
    for check in results:
        value = _TWILIO_VALUE[check.outcome]
        if (
            check.outcome == Outcome.NOT_MET
            and not ctx.final
            and (check.window_end_ms is None or check.window_end_ms > latest_ms)
        ):
            value = "Pending"  # may still happen before the call ends
            pending += 1
        evidence = [
            {
                "communication_id": by_pk[match.line.communication_id].twilio_id,
                "communication_pk": match.line.communication_id,
                "phrase": match.phrase.text,
                "quote": match.parts[1],
                "line": match.line.text,
                "score": match.score,
                "found": match.found,
            }
            for match in check.evidence
            if match.line is not None and match.line.communication_id in by_pk
        ]
        similar = check.semantic.best if check.semantic is not None else None
        if (
            similar is not None
            and similar.line is not None
            and similar.line.communication_id in by_pk
        ):
            evidence.append(
                {
                    "communication_id": by_pk[similar.line.communication_id].twilio_id,
                    "communication_pk": similar.line.communication_id,
                    "phrase": similar.prototype,
                    "quote": similar.line.text,
                    "line": similar.line.text,
                    "score": round(100 * similar.score, 1),
                    "found": check.outcome == Outcome.MET,
                }
            )
        if check.first_line_in_window is not None:
            line = check.first_line_in_window
            evidence.append(
                {
                    "communication_id": by_pk[line.communication_id].twilio_id,
                    "communication_pk": line.communication_id,
                    "phrase": "",
                    "quote": line.text,
                    "line": line.text,
                    "score": 100.0,
                    "found": True,
                }
            )
        by_section.setdefault(check.criterion.section_key, []).append(
            {
                "criteria_key": check.key,
                "name": check.criterion.name,
                "criteria_met": value,
                "outcome": check.outcome,
                "reason": check.reason,
                "kind": check.criterion.kind,
                "window": None
                if check.window_end_ms is None
                else {"start_ms": check.window_start_ms, "end_ms": check.window_end_ms},
                "evidence": evidence,
            }
        )
    met = sum(1 for check in results if check.outcome == Outcome.MET)
    judged = sum(1 for check in results if check.outcome != Outcome.NA)
    result = {
        "rubric": {
            "id": pinned.rubric_id,
            "name": pinned.rubric_name,
            "version_id": pinned.version_id,
            "version": pinned.version_number,
        },
        "categories": [
            {
                "category_key": section.name,
                "section_key": section.key,
                "criteria": by_section.get(section.key, []),
            }
            for section in structure.sections
        ],
        "score": _percent(scored.score),
        "weighted_score": _percent(scored.weighted_score),
        "critical_score": _percent(scored.critical_score),
        "passed_critical": scored.passed_critical,
        "failed_critical": list(scored.failed_critical),
        "final": ctx.final,
        "explanation": (
            f"{met} of {judged} checked criteria met"
            + (f", {pending} still open" if pending else "")
            + (f"; {len(unchecked)} left to a reviewer (no automatic check)" if unchecked else "")
            + "."
        ),
        "unchecked": sorted(unchecked),
    }
    return OperatorOutput(
        output_format=spec.output_format, result=result, rubric_version_id=pinned.version_id
    )


# Scores by frozen version id, agent type and outcomes: a live conversation is re-scored after
# every communication, and its outcomes change a few times per call at most. ``ScoreResult`` is
# immutable, so sharing one is safe.
_SCORES: dict[tuple[Any, ...], scoring.ScoreResult] = {}


def _score(
    structure: RubricStructure,
    unchecked: set[str],
    outcomes: dict[str, str],
    agent_type: str | None,
) -> scoring.ScoreResult:
    """``scoring.score`` of ``outcomes`` over ``structure`` without the ``unchecked`` criteria."""
    cache_key = (
        (structure.version_id, frozenset(unchecked), agent_type, *sorted(outcomes.items()))
        if structure.version_id
        else None
    )
    cached = _SCORES.get(cache_key) if cache_key else None
    if cached is None:
        cached = scoring.score(
            _without(structure, unchecked),
            outcomes,
            participant_type=agent_type,
            missing=Outcome.NA,
        )
        if cache_key:
            if len(_SCORES) > 4096:
                _SCORES.clear()
            _SCORES[cache_key] = cached
    return cached


_WITHOUT: dict[tuple[int, frozenset[str]], RubricStructure] = {}  # by frozen version id


def _without(structure: RubricStructure, keys: set[str]) -> RubricStructure:
    """``structure`` minus the criteria ``keys`` (and sections left empty), for scoring."""
    if not keys:
        return structure
    cache_key = (structure.version_id, frozenset(keys)) if structure.version_id else None
    cached = _WITHOUT.get(cache_key) if cache_key else None
    if cached is None:
        cached = structure.without(keys)
        if cache_key:
            if len(_WITHOUT) > 1024:
                _WITHOUT.clear()
            _WITHOUT[cache_key] = cached
    return cached


def _speaker_lines(ctx: OperatorContext, speaker: str) -> list[TranscriptLine]:
    return [
        line
        for line in ctx.lines
        if text.is_speech(line.text) and (speaker in ("", "any") or line.role == speaker)
    ]


def run_classifier(spec: OperatorSpec, ctx: OperatorContext) -> OperatorOutput | None:
    problems = patterns.validate_classifier(spec.parameters)
    if problems:
        raise OperatorError("; ".join(problems))
    lines = _speaker_lines(ctx, str(spec.parameters.get("speaker") or "any"))
    if not lines:
        return None
    found = patterns.classify([(line.role, line.text) for line in lines], spec.parameters)
    result = {
        "label": found.label,
        "matches": [
            {
                "label": match.label,
                "communication_id": lines[match.line_index].twilio_id,
                "text": match.text,
                "span": list(match.span),
                "score": match.score,
                "rule": match.rule,
            }
            for match in found.matches
        ],
    }
    observations = (
        [f"{spec.name}: {found.label}"] if spec.parameters.get("remember") and found.matches else []
    )
    return OperatorOutput(
        output_format=spec.output_format,
        result=result,
        observations=observations,
        observations_quote=False,  # the operator's name and an admin's label, nothing said
    )


def run_extractor(spec: OperatorSpec, ctx: OperatorContext) -> OperatorOutput | None:
    problems = patterns.validate_extractor(spec.parameters)
    if problems:
        raise OperatorError("; ".join(problems))
    lines = _speaker_lines(ctx, str(spec.parameters.get("speaker") or "any"))
    if not lines:
        return None
    entities = patterns.extract([(line.role, line.text) for line in lines], spec.parameters)
    result = {
        "entities": [
            {
                "text": entity.text,
                "label": entity.label,
                "communicationId": lines[entity.line_index].twilio_id,
                "beginOffset": entity.begin,
                "endOffset": entity.end,
            }
            for entity in entities
        ]
    }
    observations = (
        [f"{entity.label}: {entity.text}" for entity in entities]
        if spec.parameters.get("remember")
        else []
    )
    return OperatorOutput(
        output_format=spec.output_format, result=result, observations=observations
    )


RUNNERS: dict[str, Callable[[OperatorSpec, OperatorContext], OperatorOutput | None]] = {
    OperatorKind.SENTIMENT: run_sentiment,
    OperatorKind.SUMMARY: run_summary,
    OperatorKind.NEXT_BEST_RESPONSE: run_next_best_response,
    OperatorKind.SCRIPT_ADHERENCE: run_script_adherence,
    OperatorKind.CLASSIFIER: run_classifier,
    OperatorKind.EXTRACTOR: run_extractor,
}
