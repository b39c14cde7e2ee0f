"""Deterministic checks of a rubric version over one transcript: required phrases, time windows.

Pure functions over ``structure.RubricStructure`` and a list of transcript lines (no ORM, no
I/O), so the admin preview and, later, the intelligence engine agree on what "said it" means.

A line is ``(communication id, author type, offset_ms, text)`` (:class:`Line`; plain tuples
work too): the author type is a participant type ("CUSTOMER", "HUMAN_AGENT", "AI_AGENT",
"AGENT", or None when unknown) and ``offset_ms`` counts from the conversation start (None when
unknown). Only agents' lines are searched: the rubric is about what the agent does.

Per criterion (:func:`check_criterion`):

1. ``applies_to`` excludes the conversation's agent type (``participant_type`` HUMAN_AGENT or
   AI_AGENT; None checks every criterion): N/A, reason ``not_for_participant``.
2. No required phrases and no time window: nothing deterministic to check (it needs a human or
   the language model): N/A, reason ``no_check``.
3. Each required phrase must be said by an agent: the best agent line's fuzzy score (rapidfuzz
   ``partial_ratio`` on lowercased text without punctuation, 0-100) must reach the phrase's
   ``tolerance``. A line shorter than the phrase is compared whole (``ratio``), or "yes" would
   fully match "yes, I can help". ``{placeholders}`` such as ``{agent_name}`` match anything:
   the text around them is matched piece by piece in the same line and the weakest piece is
   the phrase's score. Every phrase is required (MET only when all are found).
4. With a time window, only lines that start within ``window_seconds`` of the anchor count:
   the conversation start (offset 0) or the agent's first spoken line (transcription tags such
   as "[noise]" or "<unk>" are not speech and never match). A window without phrases is met
   when an agent speaks inside it ("answers within 10 seconds"). Lines without an offset cannot
   be placed, so they never count inside a window. No agent line at all with an
   AGENT_FIRST_TURN anchor: NOT_MET, reason ``agent_silent``.

5. No phrases and no window, but the criterion's ``expected_action``/``description`` give
   statements to compare with: :mod:`apps.rubrics.semantic` judges it by sentence similarity
   (reasons ``similar_line`` / ``no_similar_line``, or N/A with ``na_rule`` /
   ``nothing_to_judge``), after the phrase criteria, with the spans those phrases matched
   blanked out of the agent's lines. ``semantic=False`` (or the model's package missing)
   leaves such a criterion N/A with reason ``no_check``, as before.

Each result carries its evidence: per phrase the best line inside the window (met or not, so a
near miss can be shown with its score) and the matched character span of that line's text; for
a semantic check the most similar line, its score and the statement it matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from rapidfuzz import fuzz

from . import semantic as semantic_checks
from .choices import AppliesTo, Outcome, WindowAnchor
from .structure import CriterionSpec, PhraseSpec, RubricStructure

AGENT_TYPES = frozenset({"HUMAN_AGENT", "AI_AGENT", "AGENT"})

# Why a criterion got its outcome (CriterionCheck.reason).
REASON_PHRASES_FOUND = "phrases_found"
REASON_PHRASE_MISSING = "phrase_missing"
REASON_SPOKE_IN_WINDOW = "spoke_in_window"
REASON_SILENT_IN_WINDOW = "silent_in_window"
REASON_AGENT_SILENT = "agent_silent"
REASON_NO_CHECK = "no_check"
REASON_NOT_FOR_PARTICIPANT = "not_for_participant"
# Semantic checks (criteria without phrases; apps.rubrics.semantic).
REASON_SIMILAR_LINE = "similar_line"
REASON_NO_SIMILAR_LINE = "no_similar_line"
REASON_NA_RULE = "na_rule"
REASON_NOTHING_TO_JUDGE = "nothing_to_judge"
SEMANTIC_REASONS = frozenset(
    {REASON_SIMILAR_LINE, REASON_NO_SIMILAR_LINE, REASON_NA_RULE, REASON_NOTHING_TO_JUDGE}
)

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
# Punctuation becomes spaces one for one, so spans found in the cleaned text fit the original.
_PUNCTUATION = re.compile(r"[^\w\s]")
# Transcription tags such as "[noise]" or "<unk>" are not speech.
_NON_SPEECH = re.compile(r"\[[^\]]*\]|<[^>]*>")


class Line(NamedTuple):
    """One transcript line, in spoken order."""

    communication_id: Any
    author_type: str | None
    offset_ms: int | None
    text: str


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """The best line for one required phrase; ``line`` is None when no agent line could count."""

    phrase: PhraseSpec
    score: float
    line: Line | None = None
    span: tuple[int, int] | None = None  # [start, end) in line.text

    @property
    def found(self) -> bool:
        return self.line is not None and self.score >= self.phrase.tolerance

    @property
    def parts(self) -> tuple[str, str, str]:
        """The line's text as (before, matched, after), for highlighting."""
        if self.line is None or self.span is None:
            return (self.line.text if self.line else "", "", "")
        start, end = self.span
        text = self.line.text
        return text[:start], text[start:end], text[end:]


@dataclass(frozen=True, slots=True)
class CriterionCheck:
    criterion: CriterionSpec
    outcome: str  # choices.Outcome value
    reason: str
    phrases: tuple[PhraseMatch, ...] = ()
    window_start_ms: int | None = None  # the anchor, when the criterion has a window
    window_end_ms: int | None = None
    first_line_in_window: Line | None = None  # evidence of a window without phrases
    semantic: semantic_checks.SemanticJudgement | None = None  # evidence of a semantic check

    @property
    def key(self) -> str:
        return self.criterion.key

    @property
    def evidence(self) -> tuple[PhraseMatch, ...]:
        return tuple(match for match in self.phrases if match.line is not None)


def as_lines(rows: Iterable[Sequence[Any]]) -> list[Line]:
    """``rows`` of (communication id, author type, offset_ms, text) as :class:`Line` tuples."""
    return [row if isinstance(row, Line) else Line(*row) for row in rows]


def agent_type_of(participant_types: Iterable[str | None]) -> str | None:
    """The agent type a conversation is scored as: HUMAN_AGENT, AI_AGENT, or None when unknown.

    A conversation with a human agent is a human agent's (an AI that hands over does not make
    it an AI conversation); a generic "AGENT" leaves it unknown, so every criterion applies.
    """
    types = set(participant_types)
    if "HUMAN_AGENT" in types:
        return "HUMAN_AGENT"
    if "AI_AGENT" in types and "AGENT" not in types:
        return "AI_AGENT"
    return None


def check_conversation(
    structure: RubricStructure,
    lines: Iterable[Sequence[Any]],
    *,
    participant_type: str | None = None,
    semantic: bool = True,
    semantic_thresholds: Mapping[str, float] | None = None,
) -> list[CriterionCheck]:
    """Every criterion of ``structure``, in display order, checked against ``lines``.

    Criteria without phrases or window get a semantic check (rule 5) unless ``semantic`` is
    False; ``semantic_thresholds`` gives their thresholds by criterion key."""
    line_list = as_lines(lines)
    agent_lines = [line for line in line_list if line.author_type in AGENT_TYPES]
    results = [
        _check_agent_lines(criterion, agent_lines, participant_type=participant_type)
        for criterion in structure.criteria
    ]
    pending = [
        index
        for index, check in enumerate(results)
        if check.reason == REASON_NO_CHECK and semantic_checks.is_checkable(check.criterion)
    ]
    if not semantic or not pending or not semantic_checks.available():
        return results
    agent_texts, caller_texts = _semantic_lines(line_list, results)
    for index in pending:
        criterion = results[index].criterion
        judgement = semantic_checks.judge(
            criterion,
            agent_texts,
            caller_texts,
            threshold=(semantic_thresholds or {}).get(criterion.key),
            met=Outcome.MET,
            not_met=Outcome.NOT_MET,
            na=Outcome.NA,
        )
        results[index] = CriterionCheck(
            criterion, judgement.outcome, judgement.reason, semantic=judgement
        )
    return results


def _semantic_lines(
    lines: Sequence[Line], results: Sequence[CriterionCheck]
) -> tuple[list[tuple[Line, str]], list[tuple[Line, str]]]:
    """(line, text to judge) of the agents' and the callers' speech; in agents' lines the spans
    that met a required phrase are blanked, so they do not count for another criterion."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for check in results:
        for match in check.phrases:
            if match.found and match.line is not None and match.span is not None:
                spans.setdefault(id(match.line), []).append(match.span)
    agent: list[tuple[Line, str]] = []
    caller: list[tuple[Line, str]] = []
    for line in lines:
        text = line.text
        for start, end in spans.get(id(line), ()):
            text = text[:start] + " " * (end - start) + text[end:]
        cleaned = semantic_checks.speech_text(text)
        if not cleaned:
            continue
        (agent if line.author_type in AGENT_TYPES else caller).append((line, cleaned))
    return agent, caller


def outcomes(checks: Iterable[CriterionCheck]) -> dict[str, str]:
    """``{criterion key: outcome}``, the input of ``scoring.score``."""
    return {check.key: check.outcome for check in checks}


def check_criterion(
    criterion: CriterionSpec,
    lines: Sequence[Sequence[Any]],
    *,
    participant_type: str | None = None,
) -> CriterionCheck:
    """One criterion against ``lines`` (see the module docstring for the rules)."""
    agent_lines = [line for line in as_lines(lines) if line.author_type in AGENT_TYPES]
    return _check_agent_lines(criterion, agent_lines, participant_type=participant_type)


def _check_agent_lines(
    criterion: CriterionSpec, agent_lines: list[Line], *, participant_type: str | None
) -> CriterionCheck:
    """``check_criterion`` over the agents' lines only, picked once per conversation."""
    if not _applies(criterion.applies_to, participant_type):
        return CriterionCheck(criterion, Outcome.NA, REASON_NOT_FOR_PARTICIPANT)
    if not criterion.required_phrases and criterion.window_seconds is None:
        return CriterionCheck(criterion, Outcome.NA, REASON_NO_CHECK)

    start_ms = end_ms = None
    if criterion.window_seconds is not None:
        start_ms = _anchor_ms(criterion.window_anchor, agent_lines)
        if start_ms is None:
            return CriterionCheck(criterion, Outcome.NOT_MET, REASON_AGENT_SILENT)
        end_ms = start_ms + criterion.window_seconds * 1000
        agent_lines = [
            line
            for line in agent_lines
            if line.offset_ms is not None and start_ms <= line.offset_ms <= end_ms
        ]

    if not criterion.required_phrases:
        first = next((line for line in agent_lines if is_speech(line.text)), None)
        return CriterionCheck(
            criterion,
            Outcome.MET if first is not None else Outcome.NOT_MET,
            REASON_SPOKE_IN_WINDOW if first is not None else REASON_SILENT_IN_WINDOW,
            window_start_ms=start_ms,
            window_end_ms=end_ms,
            first_line_in_window=first,
        )

    matches = tuple(best_match(phrase, agent_lines) for phrase in criterion.required_phrases)
    found = all(match.found for match in matches)
    return CriterionCheck(
        criterion,
        Outcome.MET if found else Outcome.NOT_MET,
        REASON_PHRASES_FOUND if found else REASON_PHRASE_MISSING,
        phrases=matches,
        window_start_ms=start_ms,
        window_end_ms=end_ms,
    )


def best_match(phrase: PhraseSpec, lines: Iterable[Line]) -> PhraseMatch:
    """The line that best matches ``phrase`` (the earliest of equals), with its score and span."""
    best = PhraseMatch(phrase=phrase, score=0.0)
    for line in lines:
        score, span = phrase_score(phrase.text, line.text)
        if best.line is None or score > best.score:
            best = PhraseMatch(phrase=phrase, score=score, line=line, span=span)
    return best


# Cached: a live conversation is re-checked after every communication, so each (phrase, line)
# pair comes back once per later communication; the answer depends on the two texts only.
@lru_cache(maxsize=65_536)
def phrase_score(phrase: str, text: str) -> tuple[float, tuple[int, int] | None]:
    """How well ``text`` contains ``phrase`` (0-100, one decimal place) and where, if anywhere."""
    pieces = [piece for piece in (_clean(p)[0] for p in _PLACEHOLDER.split(phrase)) if piece]
    target, positions = _clean(text)
    if not pieces or not target:
        return 0.0, None
    scores, starts, ends = [], [], []
    for piece in pieces:
        if len(piece) > len(target):
            scores.append(fuzz.ratio(piece, target))
            starts.append(0)
            ends.append(len(target))
            continue
        alignment = fuzz.partial_ratio_alignment(piece, target)
        if alignment is None:  # only with a score_cutoff, which is not used here
            scores.append(0.0)
            starts.append(0)
            ends.append(0)
            continue
        scores.append(alignment.score)
        starts.append(alignment.dest_start)
        ends.append(alignment.dest_end)
    start, end = min(starts), max(ends)
    if end <= start:
        return round(min(scores), 1), None
    first, last = positions[start], positions[end - 1] + 1
    # Whole words: an alignment may start or end inside one ("lik|e to replace").
    while first > 0 and text[first - 1].isalnum():
        first -= 1
    while last < len(text) and text[last].isalnum():
        last += 1
    while first < last and not text[first].isalnum():
        first += 1
    while last > first and not text[last - 1].isalnum():
        last -= 1
    return round(min(scores), 1), (first, last) if last > first else None


@lru_cache(maxsize=16_384)
def _clean(text: str) -> tuple[str, tuple[int, ...]]:
    """``text`` lowercased, punctuation as spaces, whitespace collapsed and trimmed, with the
    index in ``text`` of every character kept (to map a span back onto the original).

    Cached: a live conversation is re-checked after every communication, against every phrase,
    so the same lines come back many times (a per-character loop is the costly part here)."""
    chars: list[str] = []
    positions: list[int] = []
    speech = _NON_SPEECH.sub(lambda tag: " " * len(tag.group()), text)
    for index, char in enumerate(speech):
        lowered = char.lower()
        if len(lowered) != 1:  # a few letters grow when lowercased; keep them as they are
            lowered = char
        if _PUNCTUATION.match(lowered) or lowered.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                positions.append(index)
            continue
        chars.append(lowered)
        positions.append(index)
    if chars and chars[-1] == " ":
        chars.pop()
        positions.pop()
    return "".join(chars), tuple(positions)


def is_speech(text: str) -> bool:
    """Whether ``text`` has any words once transcription tags ("[noise]") are left out."""
    return bool(_clean(text)[0])


def _applies(applies_to: str, participant_type: str | None) -> bool:
    return participant_type is None or applies_to in (AppliesTo.BOTH, participant_type)


def _anchor_ms(anchor: str, agent_lines: list[Line]) -> int | None:
    if anchor == WindowAnchor.AGENT_FIRST_TURN:
        return next(
            (
                line.offset_ms
                for line in agent_lines
                if line.offset_ms is not None and is_speech(line.text)
            ),
            None,
        )
    return 0
