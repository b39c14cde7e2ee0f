"""What the AI said about a conversation's script adherence, per criterion: the suggestions a QA
review form starts from.

The latest script-adherence result of the conversation, whichever produced it: ccportal's own
operator (its ``categories`` carry each criterion's outcome, reason and evidence) or Twilio's
Script Adherence operator (mapped onto the rubric version with ``apps.rubrics.adherence``; it
gives outcomes only). The rubric version is the one the result names, else the one pinned to the
conversation, else the only published one.

Anything unexpected in a stored result is skipped, never an error: a form must always open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from apps.rubrics import selectors as rubrics
from apps.rubrics.adherence import map_twilio_adherence
from apps.rubrics.choices import Outcome

from ..choices import OperatorKind, ResultStatus
from ..models import ConversationRubric, OperatorResult
from .insights import CRITERION_REASONS

ADHERENCE_RESULTS = Q(definition__operator__kind=OperatorKind.SCRIPT_ADHERENCE) | Q(
    definition__isnull=True, operator_name__icontains="adherence"
)
_OUTCOMES = {Outcome.MET.value, Outcome.NOT_MET.value, Outcome.NA.value}
_FROM_TWILIO_VALUE = {
    "Succeeded": Outcome.MET,
    "Failed": Outcome.NOT_MET,
    "NotApplicable": Outcome.NA,
}
NO_CHECK = "no_check"


@dataclass(frozen=True)
class EvidenceRef:
    communication_pk: int | None
    quote: str
    found: bool  # False: the closest line to a phrase that was not said
    score: float | None


@dataclass(frozen=True)
class CriterionSuggestion:
    key: str
    outcome: str | None  # MET, NOT_MET, NA; None: the AI leaves it to a reviewer
    reason: str
    evidence: tuple[EvidenceRef, ...] = ()


@dataclass(frozen=True)
class AdherenceSuggestion:
    result_pk: int
    source: str  # ccportal or twilio
    operator: str
    operator_version: str
    rubric_version_id: int | None
    when: datetime
    final: bool | None
    score: float | None
    criteria: dict[str, CriterionSuggestion]
    problems: tuple[str, ...] = ()  # what in Twilio's answer matched nothing of the rubric


def review_rubric_version_id(*, conversation_id: int) -> int | None:
    """The rubric version a conversation is reviewed against: the one its latest adherence result
    used, else the first one pinned to it, else the version in force of the only published
    rubric (None when there is no rubric to review by)."""
    latest = (
        OperatorResult.objects.filter(
            ADHERENCE_RESULTS, conversation_id=conversation_id, status=ResultStatus.OK
        )
        .order_by("-date_created", "-id")
        .values_list("rubric_version_id", flat=True)
        .first()
    )
    if latest is not None:
        return latest
    pinned = (
        ConversationRubric.objects.filter(conversation_id=conversation_id)
        .order_by("pinned_at", "id")
        .values_list("version_id", flat=True)
        .first()
    )
    if pinned is not None:
        return pinned
    rubric = rubrics.sole_published_rubric()
    version = rubrics.published_version(rubric=rubric) if rubric is not None else None
    return version.pk if version is not None else None


def adherence_suggestion(
    *, conversation_id: int, rubric_version_id: int, line_pks: dict[str, int] | None = None
) -> AdherenceSuggestion | None:
    """The AI's outcome per criterion of ``rubric_version_id`` for the conversation, from its
    latest script-adherence result; None when it has none. ``line_pks`` maps communication
    Twilio ids to their primary keys, for evidence that names a line by its Twilio id."""
    result = _latest_result(conversation_id, rubric_version_id=rubric_version_id)
    if result is None:
        return None
    data = result.result if isinstance(result.result, dict) else {}
    if result.definition is not None:
        criteria = _from_ccportal(data, line_pks or {})
        problems: tuple[str, ...] = ()
        operator = result.definition.operator.name
        version = result.operator_version or str(result.definition.number)
    else:
        criteria, problems = _from_twilio(data, rubric_version_id)
        operator = result.operator_name or result.operator_id
        version = result.operator_version
    final = data.get("final")
    score = data.get("score")
    return AdherenceSuggestion(
        result_pk=result.pk,
        source=result.source,
        operator=operator,
        operator_version=version,
        rubric_version_id=result.rubric_version_id or rubric_version_id,
        when=result.date_created or result.created_at,
        final=final if isinstance(final, bool) else None,
        score=float(score)
        if isinstance(score, int | float) and not isinstance(score, bool)
        else None,
        criteria=criteria,
        problems=problems,
    )


def adherence_outcomes(
    *, conversation_ids: Sequence[int], rubric_version_id: int
) -> dict[int, dict[str, str]]:
    """The AI's outcome per criterion of ``rubric_version_id`` for many conversations at once,
    read as :func:`adherence_suggestion` reads one (the latest OK script-adherence result of
    each): ``{conversation id: {criterion key: MET | NOT_MET | NA}}``. Criteria the AI left to a
    reviewer are absent; conversations without a result too. One query per 5,000 conversations
    (Twilio's results are mapped onto the version, read once)."""
    found: dict[int, dict[str, str]] = {}
    twilio_structure = None
    ids = list(conversation_ids)
    for start in range(0, len(ids), 5000):
        rows = (
            OperatorResult.objects.filter(
                ADHERENCE_RESULTS,
                Q(rubric_version_id=rubric_version_id) | Q(rubric_version__isnull=True),
                conversation_id__in=ids[start : start + 5000],
                status=ResultStatus.OK,
            )
            .order_by("conversation_id", "-date_created", "-id")
            .distinct("conversation_id")
            .values_list("conversation_id", "definition_id", "result")
        )
        for conversation_id, definition_id, data in rows:
            if not isinstance(data, dict):
                continue
            if definition_id is not None:
                criteria = _from_ccportal(data, {})
                found[conversation_id] = {
                    key: c.outcome for key, c in criteria.items() if c.outcome is not None
                }
                continue
            if twilio_structure is None:
                version = rubrics.version_by_id(pk=rubric_version_id)
                if version is None:
                    continue
                twilio_structure = rubrics.frozen_structure(version=version)
            mapping = map_twilio_adherence(structure=twilio_structure, result=data)
            found[conversation_id] = {k: str(v) for k, v in mapping.outcomes.items() if v}
    return found


def _latest_result(
    conversation_id: int, *, rubric_version_id: int | None = None
) -> OperatorResult | None:
    results = OperatorResult.objects.filter(
        ADHERENCE_RESULTS, conversation_id=conversation_id, status=ResultStatus.OK
    )
    if rubric_version_id is not None:
        # ccportal's results name their version; Twilio's name none and are mapped onto it.
        results = results.filter(
            Q(rubric_version_id=rubric_version_id) | Q(rubric_version__isnull=True)
        )
    return results.select_related("definition__operator").order_by("-date_created", "-id").first()


def _from_ccportal(
    data: dict[str, Any], line_pks: dict[str, int]
) -> dict[str, CriterionSuggestion]:
    found: dict[str, CriterionSuggestion] = {}
    for category in data.get("categories") or []:
        if not isinstance(category, dict):
            continue
        for item in category.get("criteria") or []:
            if not isinstance(item, dict) or not isinstance(item.get("criteria_key"), str):
                continue
            key = item["criteria_key"]
            code = str(item.get("reason") or "")
            outcome = item.get("outcome")
            if outcome not in _OUTCOMES:
                outcome = _FROM_TWILIO_VALUE.get(str(item.get("criteria_met") or ""))
            if code == NO_CHECK:
                outcome = None
            found[key] = CriterionSuggestion(
                key=key,
                outcome=str(outcome) if outcome else None,
                reason=CRITERION_REASONS.get(code, code),
                evidence=tuple(_evidence(item.get("evidence"), line_pks)),
            )
    return found


def _evidence(items: Any, line_pks: dict[str, int]) -> list[EvidenceRef]:
    refs = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        pk = item.get("communication_pk")
        if not isinstance(pk, int) or isinstance(pk, bool):
            pk = line_pks.get(str(item.get("communication_id") or ""))
        score = item.get("score")
        refs.append(
            EvidenceRef(
                communication_pk=pk,
                quote=str(item.get("quote") or item.get("line") or "")[:500],
                found=bool(item.get("found", True)),
                score=float(score) if isinstance(score, int | float) else None,
            )
        )
    return refs


def _from_twilio(
    data: dict[str, Any], rubric_version_id: int
) -> tuple[dict[str, CriterionSuggestion], tuple[str, ...]]:
    version = rubrics.version_by_id(pk=rubric_version_id)
    if version is None:
        return {}, ("the rubric version is gone",)
    mapping = map_twilio_adherence(
        structure=rubrics.version_structure(version=version), result=data
    )
    reason = mapping.explanation or "Twilio Script Adherence"
    criteria = {
        key: CriterionSuggestion(key=key, outcome=outcome, reason=reason)
        for key, outcome in mapping.outcomes.items()
    }
    problems = [*mapping.problems]
    problems += [
        f"category “{c.category_key}” matches no section" for c in mapping.unmatched_categories
    ]
    problems += [
        f"criterion “{c.criteria_key}” matches nothing in {c.section_key}"
        for c in mapping.unmatched_criteria
    ]
    problems += [
        f"“{u.value}” is not a known outcome ({u.criterion_key})" for u in mapping.unknown_values
    ]
    return criteria, tuple(problems)
