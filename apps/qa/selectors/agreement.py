"""The AI as a rater: its answers paired with people's, per rubric version and criterion.

Two sources of pairs, read set-wise (a fixed number of queries whatever the number of reviews):

* every answer of the current revision of a submitted review that had an AI suggestion
  (``ReviewAnswer.ai_outcome``: what the form was prefilled with, against what the reviewer
  finally gave);
* every answer of a calibration review, against the AI's answers stored with the session's
  conversation (``CalibrationConversation.ai``). Calibration reviews are not counted twice: their
  own ``ai_outcome`` is ignored. Answers of a blind session still open are left out (nobody may
  see them yet, not even in a sum).

``stats.pair_agreement`` turns each criterion's pairs into percent agreement, Cohen's kappa and
its bootstrap interval, with ``few`` below ``QA_AGREEMENT_MIN_PAIRS`` pairs.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet

from apps.rubrics import selectors as rubrics
from apps.rubrics.choices import Outcome

from .. import stats
from ..choices import TrustTier
from ..models import CriterionTrust, Review, TrustChange
from ..services.trust import CriterionCells, Pair, cells_agreement_of, version_cells, version_pairs

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

OUTCOME_ORDER = (Outcome.MET.value, Outcome.NOT_MET.value, Outcome.NA.value)
KAPPA_AXIS_MIN = -0.2


# The statistics of a version ---------------------------------------------------------------------


@dataclass
class CriterionAgreement:
    key: str
    name: str
    kind: str
    section: str
    figures: stats.Agreement
    confusion: dict[tuple[Hashable, Hashable], int]
    tier: str
    trust: CriterionTrust | None
    sources: dict[str, int]  # pairs per source

    @property
    def disagreements(self) -> int:
        return sum(n for (ai, human), n in self.confusion.items() if ai != human)

    @property
    def labels(self) -> list[str]:
        """The outcomes the confusion matrix shows: the usual three, plus any other seen."""
        seen = {str(label) for pair in self.confusion for label in pair}
        return [*OUTCOME_ORDER, *sorted(seen - set(OUTCOME_ORDER))]

    @property
    def matrix(self) -> list[tuple[str, list[int]]]:
        """Rows of the confusion matrix: the AI's outcome, then counts per human outcome."""
        labels = self.labels
        return [(ai, [self.confusion.get((ai, human), 0) for human in labels]) for ai in labels]

    @property
    def tier_label(self) -> str:
        return TrustTier(self.tier).label.split(":")[0]

    @property
    def bar(self) -> dict[str, float] | None:
        """Kappa and its interval as x positions (0-100) on a scale from -0.2 to 1, for the
        error bar the page draws; None when kappa is undefined."""
        f = self.figures
        if f.kappa is None:
            return None

        def x(value: float | None, default: float) -> float:
            v = default if value is None else value
            return round(
                (min(1.0, max(KAPPA_AXIS_MIN, v)) - KAPPA_AXIS_MIN) / (1 - KAPPA_AXIS_MIN) * 100, 1
            )

        return {
            "kappa": x(f.kappa, 0),
            "mark": x(f.kappa, 0) - 1.2,
            "low": x(f.low, f.kappa),
            "high": x(f.high, f.kappa),
            "review": x(settings.QA_TRUST_KAPPA_REVIEW, 0),
            "trusted": x(settings.QA_TRUST_KAPPA_TRUSTED, 0),
            "zero": x(0.0, 0),
        }


@dataclass
class VersionAgreement:
    version: Any  # rubrics.RubricVersion
    criteria: list[CriterionAgreement]
    changes: list[TrustChange] = field(default_factory=list)

    @property
    def names(self) -> dict[str, str]:
        return {c.key: c.name for c in self.criteria}

    @property
    def n(self) -> int:
        return sum(c.figures.n for c in self.criteria)

    @property
    def tiers(self) -> dict[str, int]:
        counts = {tier.value: 0 for tier in TrustTier}
        for c in self.criteria:
            counts[c.tier] += 1
        return counts


def version_agreement(*, version: Any, changes: int = 50) -> VersionAgreement:
    """Agreement per criterion of ``version`` (in rubric order), its trust tier, and its latest
    ``changes`` tier changes. A criterion the AI was never compared on shows n = 0."""
    structure = rubrics.frozen_structure(version=version)
    counted = version_cells(version_id=version.pk)
    trust = {t.criterion_key: t for t in CriterionTrust.objects.filter(rubric_version=version)}
    names = {s.key: s.name for s in structure.sections}
    criteria = []
    for spec in structure.criteria:
        these = counted.get(spec.key) or CriterionCells(confusion={}, sources={})
        row = trust.get(spec.key)
        criteria.append(
            CriterionAgreement(
                key=spec.key,
                name=spec.name,
                kind=spec.kind,
                section=names.get(spec.section_key, spec.section_key),
                figures=cells_agreement_of(these),
                confusion=dict(these.confusion),
                tier=row.tier if row is not None else TrustTier.REVIEW.value,
                trust=row,
                sources=dict(these.sources),
            )
        )
    return VersionAgreement(
        version=version,
        criteria=criteria,
        changes=list(TrustChange.objects.filter(rubric_version=version)[:changes]),
    )


def trust_changes(*, version_id: int) -> QuerySet[TrustChange]:
    return TrustChange.objects.filter(rubric_version_id=version_id)


# Drill-down: where they disagreed ----------------------------------------------------------------


def disagreements(
    *, user: Person, version_id: int, criterion_key: str
) -> tuple[QuerySet[Review], dict[int, Pair]]:
    """The reviews ``user`` may read where the AI and the person answered ``criterion_key``
    differently, newest first, and each one's pair (to show both outcomes beside it)."""
    pairs = {
        p.review_id: p
        for p in version_pairs(version_id=version_id).get(criterion_key, [])
        if not p.agreed
    }
    reviews = (
        Review.objects.for_user(user)
        .filter(pk__in=list(pairs))
        .select_related("conversation", "agent", "reviewer", "calibration", "current_revision")
        .order_by("-submitted_at", "-id")
    )
    return reviews, pairs
