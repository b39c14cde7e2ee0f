"""Trust tiers per criterion: how far the AI's answer to a criterion of a rubric version is
trusted, from how well it agrees with people (the lower bound of the bootstrap interval of
Cohen's kappa) and from the disputes it would have lost.

* TRUSTED: kappa's lower bound ≥ ``QA_TRUST_KAPPA_TRUSTED`` with n ≥ ``QA_TRUST_MIN_N`` pairs
  and at most ``QA_TRUST_MAX_DISPUTES_LOST`` disputes the AI would have lost. Its answer is
  accepted: prefilled and shown collapsed in reviews, and counted in the AI score.
* REVIEW: the lower bound ≥ ``QA_TRUST_KAPPA_REVIEW``, or too little data to judge (n below the
  minimum, or kappa undefined because every answer was the same). Prefilled; a person confirms.
* MANUAL: below that. No prefill.

A dispute the AI would have lost: a decided dispute item whose final outcome differs from the
AI's outcome for that criterion of that review (the reviewer agreed with the AI, and the
decision said otherwise; or the reviewer had already overruled the AI and the decision kept it).

Every change of tier is a :class:`TrustChange` with the figures and a plain reason; a criterion
drops a tier as soon as its figures slip. Recomputing is idempotent: the same answers give the
same figures (the bootstrap is seeded) and no new change.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from apps.common.tasks import enqueue
from apps.rubrics import selectors as rubrics
from apps.rubrics.choices import Outcome

from .. import stats
from ..choices import CalibrationStatus, DisputeStatus, ReviewStatus, TrustTier
from ..models import (
    CalibrationConversation,
    CriterionTrust,
    DisputeItem,
    Review,
    ReviewAnswer,
    TrustChange,
)

logger = logging.getLogger(__name__)

DECIDED = (DisputeStatus.ACCEPTED, DisputeStatus.PARTIAL, DisputeStatus.REJECTED)
RANK = {TrustTier.MANUAL: 0, TrustTier.REVIEW: 1, TrustTier.TRUSTED: 2}
RECOMPUTE_TASK = "apps.qa.tasks.recompute_trust"
DEBOUNCE_SECONDS = 30
LOCK_CLASS = zlib.crc32(b"qa.trust") & 0x7FFFFFFF


# The pairs: the AI's answer beside a person's ------------------------------------------------

OUTCOMES = ("MET", "NOT_MET", "NA")
SOURCE_REVIEW = "review"
SOURCE_CALIBRATION = "calibration"


@dataclass(frozen=True)
class Pair:
    review_id: int
    criterion_key: str
    segment: str
    ai: str
    human: str
    source: str  # SOURCE_REVIEW or SOURCE_CALIBRATION

    @property
    def agreed(self) -> bool:
        return self.ai == self.human


_OPEN_BLIND = Q(revision__review__calibration__blind=True) & Q(
    revision__review__calibration__status=CalibrationStatus.OPEN
)


def version_pairs(*, version_id: int) -> dict[str, list[Pair]]:
    """``{criterion key: its (AI, human) pairs}`` of one rubric version, in three queries."""
    return versions_pairs(version_ids=[version_id]).get(version_id, {})


def versions_pairs(*, version_ids: Iterable[int]) -> dict[int, dict[str, list[Pair]]]:
    """The pairs of several versions at once: ``{version id: {criterion key: pairs}}``."""
    ids = list(set(version_ids))
    found: dict[int, dict[str, list[Pair]]] = {v: defaultdict(list) for v in ids}
    current = Review.objects.filter(
        rubric_version_id__in=ids, status=ReviewStatus.SUBMITTED
    ).values("current_revision_id")
    answers = ReviewAnswer.objects.filter(
        revision_id__in=current, revision__review__status=ReviewStatus.SUBMITTED
    )
    reviewed = (
        answers.filter(revision__review__is_calibration=False)
        .exclude(ai_outcome="")
        .values_list(
            "revision__review__rubric_version_id",
            "revision__review_id",
            "criterion_key",
            "segment",
            "ai_outcome",
            "outcome",
        )
        .order_by("revision__review_id", "position")
    )
    for version_id, review_id, key, segment, ai, human in reviewed:
        found[version_id][key].append(Pair(review_id, key, segment, ai, human, SOURCE_REVIEW))
    for version_id, by_key in _calibration_pairs(answers, version_ids=ids).items():
        for key, pairs in by_key.items():
            found[version_id][key].extend(pairs)
    return {v: dict(by_key) for v, by_key in found.items()}


def _calibration_pairs(answers: Any, *, version_ids: list[int]) -> dict[int, dict[str, list[Pair]]]:
    """The calibration reviews' pairs (their answers against the AI's answers stored with the
    session's conversation), per version and criterion, in review and position order."""
    found: dict[int, dict[str, list[Pair]]] = {v: defaultdict(list) for v in version_ids}
    calibrated = list(
        answers.filter(revision__review__calibration__isnull=False)
        .exclude(_OPEN_BLIND)
        .values_list(
            "revision__review__rubric_version_id",
            "revision__review_id",
            "revision__review__calibration_id",
            "revision__review__conversation_id",
            "criterion_key",
            "segment",
            "outcome",
        )
        .order_by("revision__review_id", "position")
    )
    if calibrated:
        snapshots = {
            (session_id, conversation_id): ai
            for session_id, conversation_id, ai in CalibrationConversation.objects.filter(
                session_id__in={row[2] for row in calibrated}
            ).values_list("session_id", "conversation_id", "ai")
        }
        for version_id, review_id, session_id, conv_id, key, segment, human in calibrated:
            theirs = ai_outcome_of(snapshots.get((session_id, conv_id)), segment, key)
            if theirs is not None:
                found[version_id][key].append(
                    Pair(review_id, key, segment, theirs, human, SOURCE_CALIBRATION)
                )
    return {v: dict(by_key) for v, by_key in found.items()}


@dataclass
class CriterionCells:
    """One criterion's pairs as counts: the confusion cells ``{(ai, human): n}`` in the order
    their first pair comes in ``version_pairs`` (reviews, then calibration; so a bootstrap
    over them draws exactly as over the pairs), and the pairs per source."""

    confusion: dict[tuple[Hashable, Hashable], int]
    sources: dict[str, int]

    @property
    def n(self) -> int:
        return sum(self.confusion.values())


# A review's answers in the order ``versions_pairs`` reads them: (review id, position) as one
# number (positions are small integers, under 2^16).
_ANSWER_ORDER = F("revision__review_id") * 65536 + F("position")


def version_cells(*, version_id: int) -> dict[str, CriterionCells]:
    """``{criterion key: its pairs counted}`` of one rubric version: the reviews' pairs counted
    in SQL (one row per criterion and cell, not one per answer: 50,000 answers of 2,500 reviews
    made the statistics page spend most of its time building pairs in Python), the
    calibration's (few, read against a stored snapshot) as ``versions_pairs`` reads them."""
    found: dict[str, CriterionCells] = {}

    def cells(key: str) -> CriterionCells:
        return found.setdefault(key, CriterionCells(confusion={}, sources={}))

    current = Review.objects.filter(
        rubric_version_id=version_id, status=ReviewStatus.SUBMITTED
    ).values("current_revision_id")
    answers = ReviewAnswer.objects.filter(
        revision_id__in=current, revision__review__status=ReviewStatus.SUBMITTED
    )
    counted = (
        answers.filter(revision__review__is_calibration=False)
        .exclude(ai_outcome="")
        .values("criterion_key", "ai_outcome", "outcome")
        .annotate(n=Count("*"), first=Min(_ANSWER_ORDER))
        .order_by("criterion_key", "first")
        .values_list("criterion_key", "ai_outcome", "outcome", "n")
    )
    for key, ai, human, n in counted:
        these = cells(key)
        these.confusion[(ai, human)] = n
        these.sources[SOURCE_REVIEW] = these.sources.get(SOURCE_REVIEW, 0) + n
    calibration = [
        p
        for by_key in _calibration_pairs(answers, version_ids=[version_id]).values()
        for pairs in by_key.values()
        for p in pairs
    ]
    for p in calibration:
        these = cells(p.criterion_key)
        these.confusion[(p.ai, p.human)] = these.confusion.get((p.ai, p.human), 0) + 1
        these.sources[SOURCE_CALIBRATION] = these.sources.get(SOURCE_CALIBRATION, 0) + 1
    return found


def ai_outcome_of(snapshot: Any, segment: str, criterion_key: str) -> str | None:
    """The AI's outcome for one criterion in a stored snapshot (``Review.ai`` or
    ``CalibrationConversation.ai``); None when it judged another segment or gave none."""
    if not isinstance(snapshot, dict) or snapshot.get("segment") != segment:
        return None
    item = (snapshot.get("criteria") or {}).get(criterion_key)
    outcome = item.get("outcome") if isinstance(item, dict) else None
    return outcome if outcome in OUTCOMES else None


def agreement_of(pairs: list[Pair]) -> stats.Agreement:
    return stats.pair_agreement(
        [(p.ai, p.human) for p in pairs],
        resamples=settings.QA_BOOTSTRAP_RESAMPLES,
        min_pairs=settings.QA_AGREEMENT_MIN_PAIRS,
    )


def cells_agreement_of(cells: CriterionCells) -> stats.Agreement:
    """``agreement_of`` the pairs ``cells`` counts."""
    return stats.cells_agreement(
        dict(cells.confusion),
        resamples=settings.QA_BOOTSTRAP_RESAMPLES,
        min_pairs=settings.QA_AGREEMENT_MIN_PAIRS,
    )


def trust_tiers(*, version_id: int) -> dict[str, str]:
    """``{criterion key: tier}`` of the criteria with a row (no row: REVIEW)."""
    return dict(
        CriterionTrust.objects.filter(rubric_version_id=version_id).values_list(
            "criterion_key", "tier"
        )
    )


# Tiers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    tier: str
    reason: str


def _k(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def rarer_outcome(pairs: list[Pair]) -> tuple[str, int]:
    """The rarer of "met" and "not met" among people's answers, and how often they gave it."""
    met = sum(1 for p in pairs if p.human == Outcome.MET)
    not_met = sum(1 for p in pairs if p.human == Outcome.NOT_MET)
    return ("not met", not_met) if not_met <= met else ("met", met)


def tier_for(
    figures: stats.Agreement, disputes_lost: int, *, rarer: tuple[str, int] | None = None
) -> Verdict:
    """The tier the figures earn, and why, in words an admin reads in the change log.

    ``rarer`` is the rarer of people's "met" and "not met" answers with its count: below
    ``QA_TRUST_MIN_RARER`` the data cannot show whether the AI tells the two apart (a bootstrap
    of kappa over one failing call is 1.00 to 1.00, or 0 to 1), so the criterion stays REVIEW
    whatever kappa says."""
    trusted, review = settings.QA_TRUST_KAPPA_TRUSTED, settings.QA_TRUST_KAPPA_REVIEW
    minimum, max_lost = settings.QA_TRUST_MIN_N, settings.QA_TRUST_MAX_DISPUTES_LOST
    n, low = figures.n, figures.low
    if n < minimum:
        return Verdict(TrustTier.REVIEW, f"too little data: n = {n} < {minimum}")
    if rarer is not None and rarer[1] < settings.QA_TRUST_MIN_RARER:
        label, count = rarer
        return Verdict(
            TrustTier.REVIEW,
            f"only {count} {label!r} answer{'s' if count != 1 else ''} in {n}: "
            f"{settings.QA_TRUST_MIN_RARER} needed to judge",
        )
    if low is None:
        return Verdict(
            TrustTier.REVIEW,
            f"κ undefined with n = {n} (the AI and people gave one and the same answer throughout)",
        )
    if low >= trusted:
        if disputes_lost > max_lost:
            return Verdict(
                TrustTier.REVIEW,
                f"κ lower bound {_k(low)} ≥ {trusted:.2f} with n = {n}, but the AI would have "
                f"lost {disputes_lost} disputes > {max_lost}",
            )
        return Verdict(
            TrustTier.TRUSTED,
            f"κ lower bound {_k(low)} ≥ {trusted:.2f} with n = {n}, "
            f"{disputes_lost} dispute{'s' if disputes_lost != 1 else ''} lost ≤ {max_lost}",
        )
    if low >= review:
        return Verdict(TrustTier.REVIEW, f"κ lower bound {_k(low)} < {trusted:.2f} with n = {n}")
    return Verdict(TrustTier.MANUAL, f"κ lower bound {_k(low)} < {review:.2f} with n = {n}")


def disputes_lost(*, version_id: int) -> dict[str, int]:
    """``{criterion key: decided dispute items the AI would have lost}`` of a version."""
    lost: dict[str, int] = {}
    rows = DisputeItem.objects.filter(
        dispute__review__rubric_version_id=version_id, dispute__status__in=DECIDED
    ).values_list("criterion_key", "segment", "final_outcome", "dispute__review__ai")
    for key, segment, final, ai in rows:
        outcome = ai_outcome_of(ai, segment, key)
        if outcome is not None and final and final != outcome:
            lost[key] = lost.get(key, 0) + 1
    return lost


@dataclass(frozen=True)
class Recomputed:
    version_id: int
    tiers: dict[str, str]
    changes: list[TrustChange]


def _lock(version_id: int) -> None:
    """One recompute of a version at a time (a beat run and an on-commit run may overlap)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [zlib.crc32(b"qa.trust") & 0x7FFFFFFF, version_id],
        )


@transaction.atomic
def trust_recompute(*, version: Any) -> Recomputed:
    """Recompute the tier of every criterion of ``version`` (a rubric version) from its current
    pairs and disputes; upsert :class:`CriterionTrust`, record a :class:`TrustChange` for every
    tier that moved, and, when any did, recompute the version's AI scores after commit."""
    _lock(version.pk)
    structure = rubrics.frozen_structure(version=version)
    pairs = version_pairs(version_id=version.pk)
    lost = disputes_lost(version_id=version.pk)
    existing = {
        t.criterion_key: t
        for t in CriterionTrust.objects.select_for_update().filter(rubric_version=version)
    }
    now = timezone.now()
    changes: list[TrustChange] = []
    tiers: dict[str, str] = {}
    for spec in structure.criteria:
        criterion_pairs = pairs.get(spec.key, [])
        figures = agreement_of(criterion_pairs)
        n_lost = lost.get(spec.key, 0)
        rarer = rarer_outcome(criterion_pairs)
        verdict = tier_for(figures, n_lost, rarer=rarer)
        tiers[spec.key] = verdict.tier
        row = existing.get(spec.key)
        before = row.tier if row is not None else TrustTier.REVIEW.value
        values = {
            "tier": verdict.tier,
            "n": figures.n,
            "agreement": figures.agreement,
            "kappa": figures.kappa,
            "kappa_low": figures.low,
            "kappa_high": figures.high,
            "disputes_lost": n_lost,
            "reason": verdict.reason,
            "computed_at": now,
        }
        CriterionTrust.objects.update_or_create(
            rubric_version=version, criterion_key=spec.key, defaults=values
        )
        if before != verdict.tier:
            changes.append(
                TrustChange(
                    rubric_version=version,
                    criterion_key=spec.key,
                    from_tier=before,
                    to_tier=verdict.tier,
                    figures={
                        "n": figures.n,
                        "agreement": figures.agreement,
                        "kappa": figures.kappa,
                        "kappa_low": figures.low,
                        "kappa_high": figures.high,
                        "disputes_lost": n_lost,
                        "rarer": {"outcome": rarer[0], "count": rarer[1]},
                        "thresholds": {
                            "trusted": settings.QA_TRUST_KAPPA_TRUSTED,
                            "review": settings.QA_TRUST_KAPPA_REVIEW,
                            "min_n": settings.QA_TRUST_MIN_N,
                            "min_rarer": settings.QA_TRUST_MIN_RARER,
                            "max_disputes_lost": settings.QA_TRUST_MAX_DISPUTES_LOST,
                        },
                    },
                    reason=verdict.reason,
                    at=now,
                )
            )
    if changes:
        TrustChange.objects.bulk_create(changes)
        transaction.on_commit(lambda: enqueue(AI_SCORES_TASK, version.pk))
    return Recomputed(version.pk, tiers, changes)


AI_SCORES_TASK = "apps.qa.tasks.recompute_ai_scores"


def trust_recompute_soon(*, version_id: int) -> None:
    """Ask for a recompute of ``version_id`` after the current transaction commits, at most one
    pending per version: a burst of submitted reviews costs one recompute ``DEBOUNCE_SECONDS``
    later. Never raises; beat recomputes every version anyway."""
    transaction.on_commit(lambda: _debounced(version_id))


def _debounced(version_id: int) -> None:
    from django.core.cache import cache

    try:
        if not cache.add(f"qa:trust:pending:{version_id}", 1, timeout=DEBOUNCE_SECONDS * 4):
            return
        from apps.common.tasks import task

        task(RECOMPUTE_TASK).apply_async(args=[version_id], countdown=DEBOUNCE_SECONDS, retry=False)
    except Exception as exc:  # Redis or the broker down: the beat run catches up
        logger.warning("could not schedule a trust recompute of %s: %s", version_id, exc)


def trust_pending_clear(*, version_id: int) -> None:
    """Called by the task as it starts: a change from now on schedules a new recompute."""
    from django.core.cache import cache

    try:
        cache.delete(f"qa:trust:pending:{version_id}")
    except Exception as exc:
        logger.warning("could not clear the trust pending flag of %s: %s", version_id, exc)


def trust_recompute_all() -> list[Recomputed]:
    """Every published or retired version that has reviews (beat)."""
    done = []
    for version in rubrics.versions_in_use():
        done.append(trust_recompute(version=version))
    return done
