"""How many reviews per agent a sampling policy needs for a given precision: the observed
spread of review scores and the observed pass rate (scoped to who asks), and the sample sizes
from ``apps.qa.stats`` (95%)."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Avg, Count, F, Q, StdDev

from apps.rubrics.choices import Outcome

from .. import stats
from ..choices import ReviewStatus
from ..models import Review, ReviewAnswer

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

CONFIDENCE = 0.95


@dataclass(frozen=True)
class SamplingBasis:
    """What the calculator starts from: the standard deviation of submitted review scores
    (``observed_sd`` over ``score_n`` reviews; ``sd`` is the one used, the stated default
    ``QA_SAMPLING_DEFAULT_SD`` below ``QA_SAMPLING_MIN_REVIEWS`` reviews) and the pass rate of
    their answers (met / met or not met, over ``answer_n`` answers)."""

    score_n: int
    mean_score: float | None
    observed_sd: float | None
    sd: float
    sd_is_default: bool
    answer_n: int
    pass_rate: float | None
    min_reviews: int
    default_sd: float

    def as_json(self) -> dict[str, Any]:
        return {
            "score_n": self.score_n,
            "mean_score": self.mean_score,
            "observed_sd": self.observed_sd,
            "sd": self.sd,
            "sd_is_default": self.sd_is_default,
            "answer_n": self.answer_n,
            "pass_rate": self.pass_rate,
            "min_reviews": self.min_reviews,
            "default_sd": self.default_sd,
            "confidence": CONFIDENCE,
            "z": NormalDist().inv_cdf(0.5 + CONFIDENCE / 2),
        }


def sampling_basis(*, user: Person) -> SamplingBasis:
    """The spread and pass rate of the submitted (non-calibration) reviews ``user`` may read:
    two aggregate queries."""
    reviews = Review.objects.for_user(user).filter(
        status=ReviewStatus.SUBMITTED, is_calibration=False
    )
    scores = reviews.filter(score__isnull=False).aggregate(
        n=Count("id"), mean=Avg("score"), sd=StdDev("score", sample=True)
    )
    answers = ReviewAnswer.objects.filter(
        revision__review__in=reviews,
        revision_id=F("revision__review__current_revision_id"),
    ).aggregate(
        met=Count("id", filter=Q(outcome=Outcome.MET)),
        judged=Count("id", filter=Q(outcome__in=[Outcome.MET, Outcome.NOT_MET])),
    )
    n = int(scores["n"] or 0)
    observed = float(scores["sd"]) if scores["sd"] is not None and n >= 2 else None
    minimum = settings.QA_SAMPLING_MIN_REVIEWS
    default = float(settings.QA_SAMPLING_DEFAULT_SD)
    use_default = observed is None or n < minimum or observed <= 0
    judged = int(answers["judged"] or 0)
    return SamplingBasis(
        score_n=n,
        mean_score=float(scores["mean"]) if scores["mean"] is not None else None,
        observed_sd=observed,
        sd=default if use_default else float(observed or 0),
        sd_is_default=use_default,
        answer_n=judged,
        pass_rate=int(answers["met"] or 0) / judged if judged else None,
        min_reviews=minimum,
        default_sd=default,
    )


@dataclass(frozen=True)
class SamplingFigures:
    """Reviews per agent per period for a QA score within ± ``points`` and a criterion pass
    rate within ± ``rate_points`` percentage points, at 95%."""

    points: float
    rate_points: float
    score_reviews: int
    rate_reviews_worst: int
    rate_reviews_observed: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "rate_points": self.rate_points,
            "score": {"reviews_needed": self.score_reviews},
            "rate": {
                "worst_case": {"p": 0.5, "reviews_needed": self.rate_reviews_worst},
                "observed": {"reviews_needed": self.rate_reviews_observed},
            },
        }


def sampling_figures(*, basis: SamplingBasis, points: float, rate_points: float) -> SamplingFigures:
    """The sample sizes; ``points`` in (0, 100] score points, ``rate_points`` in (0, 100)
    percentage points (the caller validates them)."""
    rate = rate_points / 100
    observed = None
    if basis.pass_rate is not None:
        observed = stats.reviews_needed_rate(rate, basis.pass_rate, CONFIDENCE)
    return SamplingFigures(
        points=points,
        rate_points=rate_points,
        score_reviews=stats.reviews_needed(points, basis.sd, CONFIDENCE),
        rate_reviews_worst=stats.reviews_needed_rate(rate, 0.5, CONFIDENCE),
        rate_reviews_observed=observed,
    )
