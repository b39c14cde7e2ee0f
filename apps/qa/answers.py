"""A review's answers: which criteria each segment of the conversation is judged on, checking
what a reviewer sent, and the scores, always by the rubric's own maths (``apps.rubrics.scoring``).
Pure: no ORM.

An answer is keyed ``"<segment>:<criterion key>"``. A conversation has one segment per kind of
agent that took part (the AI agent's, then the human's); each is judged on the criteria that
apply to it (``applies_to``), so a criterion for both kinds of agent is answered twice when an
AI agent handed over to a human.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from apps.rubrics import scoring
from apps.rubrics.choices import AppliesTo, CriterionKind, Outcome
from apps.rubrics.structure import CriterionSpec, RubricStructure

from .choices import Segment

OUTCOMES = frozenset(Outcome.values)
COMMENT_MAX = 5000
FEEDBACK_MAX = 10_000
EVIDENCE_MAX = 50


def answer_key(segment: str, criterion_key: str) -> str:
    return f"{segment}:{criterion_key}"


def split_key(key: str) -> tuple[str, str]:
    segment, _, criterion = key.partition(":")
    return segment, criterion


def segments_for(participant_types: Iterable[str]) -> list[str]:
    """The segments of a conversation with these participant types, in the order they speak:
    an AI agent's first (it hands over), then the human's. A conversation with no agent at all
    (or a generic one) is judged as a human agent's."""
    types = set(participant_types)
    found = []
    if Segment.AI_AGENT in types:
        found.append(Segment.AI_AGENT.value)
    if types & {"HUMAN_AGENT", "AGENT"} or not found:
        found.append(Segment.HUMAN_AGENT.value)
    return found


def applies(criterion: CriterionSpec, segment: str) -> bool:
    return criterion.applies_to in (AppliesTo.BOTH, segment)


def required(criterion: CriterionSpec) -> bool:
    """Informational criteria may be left unanswered; every other needs an answer."""
    return criterion.kind != CriterionKind.INFORMATIONAL


def criteria_of(structure: RubricStructure, segment: str) -> list[CriterionSpec]:
    return [c for c in structure.criteria if applies(c, segment)]


def form_keys(structure: RubricStructure, segments: Iterable[str]) -> dict[str, CriterionSpec]:
    """Every answer key of a review, in form order, with its criterion."""
    return {
        answer_key(segment, c.key): c
        for segment in segments
        for c in criteria_of(structure, segment)
    }


@dataclass(frozen=True)
class Answer:
    outcome: str | None
    comment: str = ""
    evidence: tuple[int, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "comment": self.comment, "evidence": list(self.evidence)}


def answer_from_json(value: Any) -> Answer:
    if not isinstance(value, dict):
        return Answer(None)
    outcome = value.get("outcome")
    evidence = value.get("evidence")
    return Answer(
        outcome=outcome if outcome in OUTCOMES else None,
        comment=str(value.get("comment") or ""),
        evidence=tuple(e for e in evidence if isinstance(e, int))
        if isinstance(evidence, list)
        else (),
    )


def clean_answers(
    incoming: Mapping[str, Any],
    *,
    keys: Mapping[str, CriterionSpec],
    line_pks: set[int],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Check answers sent as ``{key: {"outcome", "comment", "evidence"}}``. A part left out of
    an item is not changed; an outcome of None or "" clears it. Returns the changes per key (only
    the parts given, ready for ``merged``) and the problems by path (``answers.<key>.<part>``).
    """
    changes: dict[str, dict[str, Any]] = {}
    errors: dict[str, list[str]] = {}
    for key, value in incoming.items():
        path = f"answers.{key}"
        criterion = keys.get(key)
        if criterion is None:
            errors[path] = ["Not a criterion of this review."]
            continue
        if not isinstance(value, dict):
            errors[path] = ["Give an object with outcome, comment and evidence."]
            continue
        changes[key] = _clean_one(value, criterion, path, line_pks, errors)
    return changes, errors


def _clean_one(
    value: dict[str, Any],
    criterion: CriterionSpec,
    path: str,
    line_pks: set[int],
    errors: dict[str, list[str]],
) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if "outcome" in value:
        outcome = value["outcome"]
        if outcome in ("", None):
            change["outcome"] = None
        elif outcome not in OUTCOMES:
            errors[f"{path}.outcome"] = ["Choose met, not met or N/A."]
        elif outcome == Outcome.NA and not criterion.na_allowed:
            errors[f"{path}.outcome"] = [f"“{criterion.name}” always applies: N/A is not allowed."]
        else:
            change["outcome"] = outcome
    if "comment" in value:
        comment = str(value["comment"] or "").strip()
        if len(comment) > COMMENT_MAX:
            errors[f"{path}.comment"] = [f"At most {COMMENT_MAX} characters."]
        else:
            change["comment"] = comment
    if "evidence" in value:
        evidence = _clean_evidence(value["evidence"], line_pks, f"{path}.evidence", errors)
        if evidence is not None:
            change["evidence"] = evidence
    return change


def merged(old: Answer, change: Mapping[str, Any]) -> Answer:
    return replace(old, **change)


def _clean_evidence(
    value: Any, line_pks: set[int], path: str, errors: dict[str, list[str]]
) -> tuple[int, ...] | None:
    if value in (None, ""):
        return ()
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        errors[path] = ["Give a list of transcript line ids."]
        return None
    unknown = [v for v in value if v not in line_pks]
    if unknown:
        errors[path] = [f"Not lines of this conversation: {', '.join(map(str, unknown[:5]))}."]
        return None
    if len(value) > EVIDENCE_MAX:
        errors[path] = [f"At most {EVIDENCE_MAX} lines."]
        return None
    return tuple(dict.fromkeys(value))


def submit_problems(
    answers: Mapping[str, Answer],
    *,
    keys: Mapping[str, CriterionSpec],
    ai_outcomes: Mapping[str, str | None],
) -> dict[str, list[str]]:
    """What stops a review from being submitted: unanswered criteria, and overrides of the AI
    without a comment."""
    errors: dict[str, list[str]] = {}
    for key, criterion in keys.items():
        answer = answers.get(key, Answer(None))
        if answer.outcome is None:
            if required(criterion):
                errors[f"answers.{key}.outcome"] = [f"Answer “{criterion.name}”."]
            continue
        ai = ai_outcomes.get(key)
        if ai is not None and answer.outcome != ai and not answer.comment:
            errors[f"answers.{key}.comment"] = [
                f"You changed the AI's answer to “{criterion.name}”: say why in a comment."
            ]
    return errors


@dataclass(frozen=True)
class SegmentScore:
    segment: str
    result: scoring.ScoreResult
    answered: int
    total: int

    def as_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "score": _number(r.score),
            "weighted_score": _number(r.weighted_score),
            "critical_score": _number(r.critical_score),
            "passed_critical": r.passed_critical,
            "failed_critical": list(r.failed_critical),
            "answered": self.answered,
            "total": self.total,
        }


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def segment_scores(
    structure: RubricStructure, segments: Iterable[str], answers: Mapping[str, Answer]
) -> dict[str, SegmentScore]:
    """Each segment's score over its answered criteria (a draft's score so far; a submitted
    review has them all answered)."""
    scores: dict[str, SegmentScore] = {}
    for segment in segments:
        criteria = criteria_of(structure, segment)
        outcomes = {
            c.key: answer.outcome
            for c in criteria
            if (answer := answers.get(answer_key(segment, c.key))) is not None
            and answer.outcome is not None
        }
        unanswered = {c.key for c in structure.criteria if c.key not in outcomes}
        result = scoring.score(
            structure.without(unanswered), outcomes, participant_type=segment, missing=None
        )
        scores[segment] = SegmentScore(
            segment=segment,
            result=result,
            answered=sum(1 for c in criteria if c.key in outcomes),
            total=len(criteria),
        )
    return scores


def primary_segment(segments: list[str]) -> str:
    """Whose score a review's headline shows: the human agent's when one took part."""
    return Segment.HUMAN_AGENT if Segment.HUMAN_AGENT in segments else segments[0]
