"""Score maths: one conversation's per-criterion outcomes against one rubric version.

Pure functions over ``structure.RubricStructure`` (no ORM, no I/O), shared by the adherence
operator, the live checklist and the QA form, so the three always agree. docs/rubrics.md has the
same rules with worked examples.

Input: the structure and ``{criterion key: MET | NOT_MET | NA}`` (``choices.Outcome`` or its
string values).

Per criterion, first:

1. A criterion whose ``applies_to`` excludes the participant type being scored
   (``participant_type`` HUMAN_AGENT or AI_AGENT; None scores every criterion) is left out
   entirely, like an N/A.
2. N/A is honoured only where ``na_allowed``: the criterion leaves the denominator. An N/A on a
   criterion without ``na_allowed`` counts as NOT_MET (an evaluator or operator cannot excuse a
   step the rubric says always applies).
3. INFORMATIONAL criteria never count, whatever their outcome.
4. Which criteria count in the main (weighted) score: SCORED always; CRITICAL with
   FAIL_CONVERSATION too (they carry weights like scored ones, so a passed critical step earns
   its share); CRITICAL with SEPARATE_SCORE never (they make the critical score instead).

Main score (0-100, a Decimal rounded half-up to one decimal place; None when no counting
criterion has an outcome other than N/A, i.e. when nothing could be scored):

* BY_CRITERION: ``sum(weight of MET counting criteria) / sum(weight of non-N/A counting
  criteria) * 100``. N/A criteria leave the denominator, so the rest are re-based: weights
  50/30/20 with the 30 N/A and the others MET/NOT_MET give 50 / 70 = 71.4.
* BY_SECTION: a section's score is the share of its non-N/A counting criteria's relative weight
  that is MET (criteria without weights share the section equally). Overall
  ``= sum(section weight * section score) / sum(weight of sections with at least one non-N/A
  counting criterion) * 100``: a section with nothing to score leaves the denominator, and the
  other sections are re-based the same way.

Critical criteria:

* FAIL_CONVERSATION: any critical criterion NOT_MET (after rule 2) makes ``score`` 0 and
  ``passed_critical`` False. ``weighted_score`` keeps what the weights alone gave (for coaching).
  ``critical_score`` is None.
* SEPARATE_SCORE: ``critical_score`` = % of the non-N/A critical criteria that are MET
  (unweighted; None when all are N/A or there are none); ``passed_critical`` = none is NOT_MET.
  The main score excludes them.

``passed_critical`` is True when there are no critical criteria.

Every criterion that is neither INFORMATIONAL nor excluded by ``participant_type`` needs an
outcome: a missing one raises ValueError unless ``missing`` names the outcome to assume (the
live checklist passes ``missing=Outcome.NOT_MET`` mid-call). Outcomes for keys the version does
not have are ignored and listed in ``ScoreResult.ignored_keys``.

Scoring trusts the structure (publishing validated it). For a draft preview with incomplete
weights: a missing weight counts as 0, except that in a BY_SECTION section where no counting
criterion has a weight, each counts 1 (the equal split).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .choices import AppliesTo, CriterionKind, CriticalMode, Outcome, Weighting
from .structure import CriterionSpec, RubricStructure, SectionSpec, counts_in_main_score

ZERO = Decimal(0)
HUNDRED = Decimal(100)
ONE_PLACE = Decimal("0.1")

# Why a criterion did not count (CriterionResult.note).
NOTE_INFORMATIONAL = "informational"
NOTE_NA = "na"
NOTE_NOT_FOR_PARTICIPANT = "not_for_participant"
NOTE_CRITICAL_SEPARATE = "critical_separate"
# Counted, as NOT_MET, although N/A was given.
NOTE_NA_NOT_ALLOWED = "na_not_allowed"


@dataclass(frozen=True, slots=True)
class CriterionResult:
    key: str
    section_key: str
    kind: str
    outcome: str | None  # as given (None: not given, or not for this participant type)
    effective: str  # MET, NOT_MET or NA after the rules above
    counted: bool  # in the main score's denominator
    weight: Decimal  # weight used (BY_SECTION: relative within the section); 0 if not counted
    note: str = ""


@dataclass(frozen=True, slots=True)
class SectionResult:
    key: str
    name: str
    weight: Decimal | None  # the section's weight (BY_SECTION), else None
    score: Decimal | None  # 0-100, one place; None when nothing in it could be scored
    earned: Decimal  # criterion weight MET
    possible: Decimal  # criterion weight counted (non-N/A)

    @property
    def counted(self) -> bool:
        return self.score is not None


@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: Decimal | None
    passed_critical: bool
    critical_score: Decimal | None
    weighted_score: Decimal | None
    sections: tuple[SectionResult, ...]
    criteria: tuple[CriterionResult, ...]
    failed_critical: tuple[str, ...] = ()
    ignored_keys: tuple[str, ...] = ()

    @property
    def counted_keys(self) -> tuple[str, ...]:
        """Keys of the criteria in the main score's denominator."""
        return tuple(c.key for c in self.criteria if c.counted)


def score(
    structure: RubricStructure,
    outcomes: Mapping[str, str],
    *,
    participant_type: str | None = None,
    missing: str | None = None,
) -> ScoreResult:
    """Score ``outcomes`` against ``structure`` (see the module docstring for the rules)."""
    if participant_type not in (None, AppliesTo.HUMAN_AGENT, AppliesTo.AI_AGENT):
        raise ValueError(
            f"participant_type must be HUMAN_AGENT, AI_AGENT or None: {participant_type!r}"
        )
    if missing is not None and missing not in _OUTCOMES:
        raise ValueError(f"Unknown outcome for missing criteria: {missing!r}")
    for key, value in outcomes.items():
        if value not in _OUTCOMES:
            raise ValueError(f"Unknown outcome {value!r} for criterion {key!r}")
    known = {c.key for c in structure.criteria}
    ignored = tuple(sorted(k for k in outcomes if k not in known))
    absent = [
        c.key
        for c in structure.criteria
        if c.kind != CriterionKind.INFORMATIONAL
        and _applies(c, participant_type)
        and c.key not in outcomes
    ]
    if absent and missing is None:
        raise ValueError("No outcome for criteria: " + ", ".join(absent))

    by_section = structure.weighting == Weighting.BY_SECTION
    separate = structure.critical_mode == CriticalMode.SEPARATE_SCORE
    criterion_results: list[CriterionResult] = []
    section_results: list[SectionResult] = []
    failed_critical: list[str] = []
    critical_met = critical_rated = 0
    total_earned = total_possible = ZERO  # BY_CRITERION
    weighted_sum = weight_of_rated = ZERO  # BY_SECTION

    for section in structure.sections:
        relative = _relative_weights(section, structure.critical_mode) if by_section else None
        earned = possible = ZERO
        for criterion in section.criteria:
            result = _judge(
                criterion,
                outcomes.get(criterion.key, missing),
                participant_type=participant_type,
                critical_mode=structure.critical_mode,
                weight=(
                    relative[criterion.key] if relative is not None else criterion.weight or ZERO
                ),
            )
            criterion_results.append(result)
            if criterion.kind == CriterionKind.CRITICAL and result.effective != Outcome.NA:
                critical_rated += 1
                if result.effective == Outcome.MET:
                    critical_met += 1
                else:
                    failed_critical.append(criterion.key)
            if result.counted:
                possible += result.weight
                if result.effective == Outcome.MET:
                    earned += result.weight
        section_fraction = earned / possible if possible > 0 else None
        section_results.append(
            SectionResult(
                key=section.key,
                name=section.name,
                weight=section.weight if by_section else None,
                score=_percent(section_fraction),
                earned=earned,
                possible=possible,
            )
        )
        total_earned += earned
        total_possible += possible
        if section_fraction is not None:
            section_weight = section.weight or ZERO
            weighted_sum += section_weight * section_fraction
            weight_of_rated += section_weight

    if by_section:
        fraction = weighted_sum / weight_of_rated if weight_of_rated > 0 else None
    else:
        fraction = total_earned / total_possible if total_possible > 0 else None
    weighted_score = _percent(fraction)
    passed_critical = not failed_critical
    if separate:
        final = weighted_score
        critical_score = _percent(
            Decimal(critical_met) / Decimal(critical_rated) if critical_rated else None
        )
    else:
        final = ZERO.quantize(ONE_PLACE) if failed_critical else weighted_score
        critical_score = None
    return ScoreResult(
        score=final,
        passed_critical=passed_critical,
        critical_score=critical_score,
        weighted_score=weighted_score,
        sections=tuple(section_results),
        criteria=tuple(criterion_results),
        failed_critical=tuple(failed_critical),
        ignored_keys=ignored,
    )


# Django's ``Choices.values`` builds a new list at every access; the operators score after every
# communication, so the valid outcomes are read once.
_OUTCOMES = frozenset(Outcome.values)


def _applies(criterion: CriterionSpec, participant_type: str | None) -> bool:
    return (
        participant_type is None
        or criterion.applies_to == AppliesTo.BOTH
        or criterion.applies_to == participant_type
    )


def _relative_weights(section: SectionSpec, critical_mode: str) -> dict[str, Decimal]:
    """BY_SECTION criterion weights: as given, or 1 each when none of the section has one."""
    counting = [c for c in section.criteria if counts_in_main_score(c.kind, critical_mode)]
    equal_split = all(c.weight is None for c in counting)
    return {c.key: Decimal(1) if equal_split else (c.weight or ZERO) for c in section.criteria}


def _judge(
    criterion: CriterionSpec,
    outcome: str | None,
    *,
    participant_type: str | None,
    critical_mode: str,
    weight: Decimal,
) -> CriterionResult:
    def result(
        effective: str, counted: bool, note: str = "", given: str | None = outcome
    ) -> CriterionResult:
        return CriterionResult(
            key=criterion.key,
            section_key=criterion.section_key,
            kind=criterion.kind,
            outcome=given,
            effective=effective,
            counted=counted,
            weight=weight if counted else ZERO,
            note=note,
        )

    if not _applies(criterion, participant_type):
        return result(Outcome.NA, False, NOTE_NOT_FOR_PARTICIPANT, given=None)
    note = ""
    effective = outcome or Outcome.NA
    if outcome == Outcome.NA and not criterion.na_allowed:
        effective, note = Outcome.NOT_MET, NOTE_NA_NOT_ALLOWED
    if criterion.kind == CriterionKind.INFORMATIONAL:
        return result(effective, False, NOTE_INFORMATIONAL)
    if not counts_in_main_score(criterion.kind, critical_mode):
        return result(effective, False, note or NOTE_CRITICAL_SEPARATE)
    if effective == Outcome.NA:
        return result(effective, False, NOTE_NA)
    return result(effective, True, note)


def _percent(fraction: Decimal | None) -> Decimal | None:
    if fraction is None:
        return None
    return (fraction * HUNDRED).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)
