"""Agreement and uncertainty: the statistics behind calibration, the AI as a rater, trust tiers
and every interval on a QA score. Pure: no database, no Django; numpy (through ``krippendorff``)
for the bootstrap and alpha.

Conventions:

* Raters' answers are any hashable labels ("MET", "NOT_MET", "NA"...); ``None`` is a missing
  answer where a function allows missing answers (Krippendorff's alpha) and a label elsewhere.
* A statistic that is undefined for its data (kappa when both raters used one single and the
  same label, a mean of nothing) is ``nan`` from the functions with fixed signatures and ``None``
  in the :class:`Agreement` summary that pages show.
* Intervals are two-sided at ``confidence``; bootstrap intervals are percentile intervals.

The names and signatures of ``cohen_kappa``, ``fleiss_kappa``, ``krippendorff_alpha``,
``wilson_interval`` and ``bootstrap_interval`` are fixed: other tools call them.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, TypeVar

T = TypeVar("T")
NAN = float("nan")
MIN_PAIRS = 20
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


# Agreement between raters ------------------------------------------------------------------------


def percent_agreement(rater_a: Sequence[Hashable], rater_b: Sequence[Hashable]) -> float:
    """The share of items both raters answered alike (nan for no items)."""
    _same_length(rater_a, rater_b)
    if not rater_a:
        return NAN
    return sum(1 for a, b in zip(rater_a, rater_b, strict=True) if a == b) / len(rater_a)


def cohen_kappa(rater_a: Sequence[Hashable], rater_b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters over the same items: (po - pe) / (1 - pe), where po is the
    observed agreement and pe the agreement expected from each rater's own label shares.
    nan when pe is 1 (both used one and the same label throughout: agreement says nothing)."""
    _same_length(rater_a, rater_b)
    return _kappa_from_cells(Counter(zip(rater_a, rater_b, strict=True)))


def _kappa_from_cells(cells: Counter[tuple[Any, Any]] | dict[tuple[Any, Any], int]) -> float:
    n = sum(cells.values())
    if n == 0:
        return NAN
    observed = sum(count for (a, b), count in cells.items() if a == b) / n
    left: Counter[Any] = Counter()
    right: Counter[Any] = Counter()
    for (a, b), count in cells.items():
        left[a] += count
        right[b] += count
    expected = sum(left[label] * right[label] for label in left) / (n * n)
    if expected >= 1:
        return NAN
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from a subjects by categories table of how many raters chose each category
    for each subject (every subject rated by the same number of raters, at least two)."""
    rows = [list(row) for row in counts]
    if not rows:
        return NAN
    raters = sum(rows[0])
    if raters < 2 or any(sum(row) != raters for row in rows):
        raise ValueError("every subject needs the same number of raters, at least two")
    if len({len(row) for row in rows}) != 1:
        raise ValueError("every subject needs a count for every category")
    subjects = len(rows)
    total = subjects * raters
    shares = [sum(row[j] for row in rows) / total for j in range(len(rows[0]))]
    per_subject = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in rows]
    observed = sum(per_subject) / subjects
    expected = sum(p * p for p in shares)
    if expected >= 1:
        return NAN
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(reliability_data: Any, level: str = "nominal") -> float:
    """Krippendorff's alpha from raters by units data, ``None`` (or nan) where a rater did not
    answer a unit. ``level``: nominal, ordinal, interval or ratio. Labels that are not numbers
    are coded in order of first appearance (fine for nominal data; ordinal data should be given
    as numbers in their order)."""
    import krippendorff
    import numpy as np

    rows = [list(row) for row in reliability_data]
    codes: dict[Hashable, int] = {}

    def code(value: Any) -> float:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.nan
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return float(codes.setdefault(value, len(codes)))

    data = np.array([[code(v) for v in row] for row in rows], dtype=float)
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    values = data[:, pairable]
    if values.size == 0 or len(np.unique(values[~np.isnan(values)])) < 2:
        return NAN
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))  # type: ignore[arg-type]


# Intervals -----------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion: inside [0, 1] and honest for small n and for
    rates near 0 or 1, where the normal interval is not. (nan, nan) for n = 0."""
    if n <= 0:
        return NAN, NAN
    if not 0 <= successes <= n:
        raise ValueError("successes must lie between 0 and n")
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(
    values: Sequence[T],
    statistic: Callable[[Sequence[T]], float],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval of ``statistic`` over ``values`` (items are resampled
    with replacement; pass pairs to resample pairs). Resamples where the statistic is undefined
    (nan) are left out; (nan, nan) when none is defined. Deterministic for a given seed."""
    items = list(values)
    if not items:
        return NAN, NAN
    rng = random.Random(seed)
    n = len(items)
    found = []
    for _ in range(resamples):
        value = statistic([items[rng.randrange(n)] for _ in range(n)])
        if not math.isnan(value):
            found.append(value)
    return _percentiles(sorted(found), confidence)


def _percentiles(ordered: Sequence[float], confidence: float) -> tuple[float, float]:
    if not ordered:
        return NAN, NAN
    tail = (1 - confidence) / 2
    return _quantile(ordered, tail), _quantile(ordered, 1 - tail)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def t_cdf(t: float, df: int) -> float:
    """Student's t distribution function, exact for whole degrees of freedom: the finite
    trigonometric series of Abramowitz & Stegun 26.7.3 (odd df) and 26.7.4 (even df)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    theta = math.atan(abs(t) / math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:
        term, total = math.cos(theta), 0.0
        if df > 1:
            total = term
            for k in range(3, df - 1, 2):
                term *= cos2 * (k - 1) / k
                total += term
        inside = 2 / math.pi * (theta + sin * total)  # P(|T| < |t|)
    else:
        term = total = 1.0
        for k in range(2, df - 1, 2):
            term *= cos2 * (k - 1) / k
            total += term
        inside = sin * total
    return 0.5 + inside / 2 if t >= 0 else 0.5 - inside / 2


# Above this many degrees of freedom the quantile comes from its expansion in 1/df: the series
# behind t_cdf has df/2 terms, and bisection calls it about 40 times (a dashboard's
# intervals over 60,000 conversations took a second). Its error in p is below 1e-10 here.
T_SERIES_MAX_DF = 100


def _t_quantile_expansion(p: float, df: int) -> float:
    """The Cornish-Fisher expansion of the t quantile around the normal one (Abramowitz &
    Stegun 26.7.5), to the 1/df^4 term."""
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile for whole degrees of freedom: closed forms for 1 and 2, bisection
    on :func:`t_cdf` (to 1e-10) up to ``T_SERIES_MAX_DF``, the expansion in 1/df above."""
    if not 0 < p < 1:
        raise ValueError("p must lie between 0 and 1")
    if df < 1:
        raise ValueError("df must be at least 1")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    if p < 0.5:
        return -t_quantile(1 - p, df)
    if df > T_SERIES_MAX_DF:
        return _t_quantile_expansion(p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    while high - low > 1e-10:
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval of the mean ((nan, nan) with fewer than two values)."""
    n = len(values)
    if n < 2:
        return NAN, NAN
    m = sum(values) / n
    variance = sum((v - m) ** 2 for v in values) / (n - 1)
    half = t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(variance / n)
    return m - half, m + half


def mean_difference_interval(
    before: tuple[int, float, float], after: tuple[int, float, float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """The difference of two means (after minus before) with Welch's t interval, each sample
    given as (n, sum, sum of squares) so rolled-up sums suffice. (nan, nan, nan) when either
    sample has fewer than two values."""
    (n1, s1, q1), (n2, s2, q2) = before, after
    if n1 < 2 or n2 < 2:
        return NAN, NAN, NAN
    m1, m2 = s1 / n1, s2 / n2
    v1 = max(0.0, (q1 - s1 * s1 / n1) / (n1 - 1)) / n1
    v2 = max(0.0, (q2 - s2 * s2 / n2) / (n2 - 1)) / n2
    difference = m2 - m1
    if v1 + v2 == 0:
        return difference, difference, difference
    df = (v1 + v2) ** 2 / ((v1 * v1) / (n1 - 1) + (v2 * v2) / (n2 - 1))
    half = t_quantile(0.5 + confidence / 2, max(1, math.floor(df))) * math.sqrt(v1 + v2)
    return difference, difference - half, difference + half


def rate_difference_interval(
    before: tuple[int, int], after: tuple[int, int], confidence: float = 0.95
) -> tuple[float, float, float]:
    """The difference of two rates (after minus before) given as (successes, n), with
    Newcombe's hybrid score interval (his method 10, from the two Wilson intervals): honest
    for small n and for rates near 0 or 1. (nan, nan, nan) when either n is 0."""
    (k1, n1), (k2, n2) = before, after
    if n1 <= 0 or n2 <= 0:
        return NAN, NAN, NAN
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    difference = p2 - p1
    low = difference - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = difference + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return difference, low, high


# Summaries for pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Two raters' agreement over paired answers, as pages show it: percent agreement beside
    kappa, kappa's bootstrap interval, and ``few`` when there are too few pairs to trust it."""

    n: int
    agreement: float | None
    kappa: float | None
    low: float | None
    high: float | None
    few: bool


def confusion(pairs: Sequence[tuple[Hashable, Hashable]]) -> dict[tuple[Hashable, Hashable], int]:
    """How often each (first rater's label, second rater's label) occurs."""
    return dict(Counter((a, b) for a, b in pairs))


def pair_agreement(
    pairs: Sequence[tuple[Hashable, Hashable]],
    *,
    resamples: int = 2000,
    seed: int = 0,
    min_pairs: int = MIN_PAIRS,
    confidence: float = 0.95,
) -> Agreement:
    """Percent agreement and Cohen's kappa of paired answers with a percentile bootstrap
    interval. Resampling n pairs is a multinomial draw over the confusion cells, so this costs
    the same for ten pairs or a million."""
    return cells_agreement(
        confusion(pairs),
        resamples=resamples,
        seed=seed,
        min_pairs=min_pairs,
        confidence=confidence,
    )


def cells_agreement(
    cells: dict[tuple[Hashable, Hashable], int],
    *,
    resamples: int = 2000,
    seed: int = 0,
    min_pairs: int = MIN_PAIRS,
    confidence: float = 0.95,
) -> Agreement:
    """``pair_agreement`` of pairs already counted (``confusion``: the same figures when the
    cells come in the order of their first pair)."""
    n = sum(cells.values())
    if n == 0:
        return Agreement(0, None, None, None, None, True)
    po = sum(count for (a, b), count in cells.items() if a == b) / n
    kappa = _kappa_from_cells(cells)
    low, high = _kappa_bootstrap(cells, n, resamples=resamples, seed=seed, confidence=confidence)
    return Agreement(
        n=n,
        agreement=po,
        kappa=None if math.isnan(kappa) else kappa,
        low=None if math.isnan(low) else low,
        high=None if math.isnan(high) else high,
        few=n < min_pairs,
    )


def _kappa_bootstrap(
    cells: dict[tuple[Hashable, Hashable], int],
    n: int,
    *,
    resamples: int,
    seed: int,
    confidence: float,
) -> tuple[float, float]:
    import numpy as np

    labels = sorted({label for pair in cells for label in pair}, key=repr)
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    keys = list(cells)
    probabilities = np.array([cells[key] / n for key in keys])
    draws = np.random.default_rng(seed).multinomial(n, probabilities, size=resamples)
    # Each draw as a k by k table: rows the first rater, columns the second.
    tables = np.zeros((resamples, k, k))
    for column, (a, b) in enumerate(keys):
        tables[:, index[a], index[b]] += draws[:, column]
    observed = np.trace(tables, axis1=1, axis2=2) / n
    expected = (tables.sum(axis=2) * tables.sum(axis=1)).sum(axis=1) / (n * n)
    defined = expected < 1 - 1e-12
    kappas = (observed[defined] - expected[defined]) / (1 - expected[defined])
    return _percentiles(sorted(kappas.tolist()), confidence)


# Sample sizes ----------------------------------------------------------------------------------


def reviews_needed(half_width: float, sd: float, confidence: float = 0.95) -> int:
    """Reviews per agent for the mean score's interval to be ± ``half_width`` points, given the
    scores' standard deviation ``sd`` (normal approximation, at least 2)."""
    if half_width <= 0 or sd < 0:
        raise ValueError("half_width must be positive and sd not negative")
    return max(2, math.ceil((_z(confidence) * sd / half_width) ** 2))


def reviews_needed_rate(half_width: float, p: float = 0.5, confidence: float = 0.95) -> int:
    """Answers needed for a rate's interval to be ± ``half_width`` (a fraction, 0.05 for five
    points) around ``p`` (0.5, the worst case, when unknown); at least 1."""
    if not 0 < half_width < 1 or not 0 <= p <= 1:
        raise ValueError("half_width must lie in (0, 1) and p in [0, 1]")
    z = _z(confidence)
    return max(1, math.ceil(z * z * p * (1 - p) / (half_width * half_width)))


def _same_length(a: Sequence[Any], b: Sequence[Any]) -> None:
    if len(a) != len(b):
        raise ValueError("both raters must answer the same items")
