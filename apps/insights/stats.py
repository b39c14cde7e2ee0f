"""Honest numbers: intervals for rates and means from additive sums. Pure functions.

A mean's interval is Student's t from the count, sum and sum of squares (so it can be derived
from rolled-up buckets, never an average of averages); a rate's is Wilson's. Both match what
``apps.qa.stats`` gives from the raw values (``mean_interval``, ``wilson_interval``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.qa.stats import t_quantile

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A derived figure with its sample size and 95% interval (None where there is no data or
    no interval, such as a count)."""

    value: float | None
    n: int
    low: float | None = None
    high: float | None = None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width: the "± 5.1" of a mean (a rate's Wilson interval is not
        symmetric around the rate, so pages show its bounds instead)."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2

    def is_few(self, minimum: int) -> bool:
        """Fewer than ``minimum`` values: the figure is shown, muted, with a warning."""
        return self.n < minimum


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson's score interval for k successes of n (None for n = 0). It stays inside [0, 1]
    and is honest for small n and for rates near 0 or 1, where the normal interval is not."""
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> Estimate:
    interval = wilson(k, n)
    if interval is None:
        return Estimate(None, 0)
    return Estimate(k / n, n, *interval)


def mean(n: int, total: float, squares: float | None = None) -> Estimate:
    """The mean of n values from their sum, with Student's t 95% interval from the sum of
    squares when there are at least two values (a rate's Wilson interval does not apply to
    means; the t quantile keeps the interval honest for the handful of reviews an agent gets)."""
    if n <= 0:
        return Estimate(None, 0)
    value = total / n
    if squares is None or n < 2:
        return Estimate(value, n)
    variance = max(0.0, (squares - total * total / n) / (n - 1))
    half = t_quantile(0.975, n - 1) * math.sqrt(variance / n)
    return Estimate(value, n, value - half, value + half)
