"""The AI score (auto-QA): every closed conversation scored from the AI's answers to the TRUSTED
criteria of the rubric version it is judged by, with the rubric's own maths
(``apps.rubrics.scoring``), kept apart from people's review scores.

Only the trusted criteria count: the structure is cut down to them before scoring, so a
criterion that is not trusted (or that the AI left open) is left out, never failed. With no
trusted criterion answered the row still exists, with no score and ``criteria_count`` 0, so the
sweep does not come back to it; it is recomputed when the version's tiers change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.conversations import selectors as conversations
from apps.conversations.choices import ConversationStatus
from apps.intelligence import selectors as intelligence
from apps.rubrics import scoring
from apps.rubrics import selectors as rubrics
from apps.rubrics.checks import agent_type_of
from apps.rubrics.structure import RubricStructure

from .. import answers as A
from ..choices import TrustTier
from ..models import AiScore, CriterionTrust

SWEEP_LIMIT = 200


def trusted_keys(*, version_id: int) -> set[str]:
    return set(
        CriterionTrust.objects.filter(
            rubric_version_id=version_id, tier=TrustTier.TRUSTED
        ).values_list("criterion_key", flat=True)
    )


def trusted_structure(structure: RubricStructure, keys: set[str]) -> RubricStructure:
    """``structure`` with only the criteria in ``keys`` (sections left empty dropped)."""
    sections = []
    for section in structure.sections:
        kept = tuple(c for c in section.criteria if c.key in keys)
        if kept:
            sections.append(replace(section, criteria=kept))
    return replace(structure, sections=tuple(sections))


@transaction.atomic
def ai_score_compute(*, conversation_id: int) -> AiScore | None:
    """Score one conversation from the AI's final adherence answers to the trusted criteria;
    upserted (one row per conversation and version), so running it twice changes nothing.
    None when there is nothing to score by: no rubric, no adherence result, or a result that is
    not the end-of-call one yet."""
    version_id = intelligence.review_rubric_version_id(conversation_id=conversation_id)
    if version_id is None:
        return None
    suggestion = intelligence.adherence_suggestion(
        conversation_id=conversation_id, rubric_version_id=version_id
    )
    if suggestion is None or suggestion.final is False:
        return None
    version = rubrics.version_by_id(pk=version_id)
    if version is None:
        return None
    people = conversations.conversation_people(ids=[conversation_id]).get(conversation_id)
    types = people.participant_types if people is not None else frozenset()
    segment = agent_type_of(types) or A.segments_for(types)[-1]
    structure = rubrics.frozen_structure(version=version)
    keys = trusted_keys(version_id=version_id)
    applicable = {c.key for c in structure.criteria if A.applies(c, segment)}
    outcomes = {
        key: c.outcome
        for key, c in suggestion.criteria.items()
        if key in keys and key in applicable and c.outcome in A.OUTCOMES
    }
    score: Any = None
    passed: bool | None = None
    if outcomes:
        result = scoring.score(
            trusted_structure(structure, set(outcomes)), outcomes, participant_type=segment
        )
        score, passed = result.score, result.passed_critical
    agent_ids = sorted(people.agent_ids) if people is not None else []
    row, _ = AiScore.objects.update_or_create(
        conversation_id=conversation_id,
        rubric_version_id=version_id,
        defaults={
            "agent_id": agent_ids[0] if agent_ids else None,
            "segment": segment,
            "score": score,
            "passed_critical": passed,
            "outcomes": dict(sorted(outcomes.items())),
            "criteria_count": len(outcomes),
            "result_id": suggestion.result_pk,
            "computed_at": timezone.now(),
        },
    )
    return row


def ai_scores_sweep(*, limit: int = SWEEP_LIMIT) -> int:
    """Score closed conversations with an adherence result and no AI score yet, newest first
    (beat). One query finds them; each is then scored on its own."""
    found = intelligence.with_ai_adherence_score(
        conversations.conversations_unscoped().filter(status=ConversationStatus.CLOSED)
    )
    ids = list(
        found.filter(ai_adherence_score__isnull=False)
        .exclude(pk__in=AiScore.objects.values("conversation_id"))
        .order_by("-ended_at", "-id")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if ai_score_compute(conversation_id=pk) is not None)


def ai_scores_recompute(*, version_id: int) -> int:
    """Recompute every AI score of a version (its tiers changed)."""
    ids = list(
        AiScore.objects.filter(rubric_version_id=version_id).values_list(
            "conversation_id", flat=True
        )
    )
    return sum(1 for pk in ids if ai_score_compute(conversation_id=pk) is not None)
