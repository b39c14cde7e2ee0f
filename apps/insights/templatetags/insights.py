"""Showing figures: units, intervals, changes and heatmap cells, one way on every page."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def _seconds(value: float) -> str:
    if value < 90:
        return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def figure(value: Any, unit: str = "") -> str:
    """A figure in its unit: seconds as 42 s or 3m 05s, shares as 64%, scores with one
    decimal, sentiment changes signed, counts with separators; an em dash for no data."""
    if value is None:
        return "—"
    number = float(value)
    if unit == "seconds":
        return _seconds(number)
    if unit == "share":
        return (
            f"{number * 100:.0f}%" if number * 100 >= 10 or number == 0 else f"{number * 100:.1f}%"
        )
    if unit == "score":
        return f"{number:.1f}"
    if unit == "delta":
        return "0.00" if abs(number) < 0.005 else f"{number:+.2f}"
    return f"{round(number):,}"


@register.filter
def change(value: Any, unit: str = "") -> str:
    """A difference between two periods, signed, in the figure's unit (points for shares)."""
    if value is None:
        return ""
    number = float(value)
    if abs(number) < 1e-9:
        return "no change"
    sign = "+" if number > 0 else "\u2212"  # a minus sign
    size = abs(number)
    if unit == "seconds":
        return f"{sign}{_seconds(size)}"
    if unit == "share":
        return f"{sign}{size * 100:.1f} pts"
    if unit == "score":
        return f"{sign}{size:.1f}"
    if unit == "delta":
        return f"{sign}{size:.2f}"
    return f"{sign}{round(size):,}"


@register.filter
def interval(estimate: Any, unit: str = "") -> str:
    """The 95% interval as "60-71%" with an en dash (empty when there is none)."""
    if estimate is None or estimate.low is None or estimate.high is None:
        return ""
    # Wilson's bounds come back as 1e-17 rather than 0 now and then: round first.
    low, high = figure(round(estimate.low, 9), unit), figure(round(estimate.high, 9), unit)
    if unit == "share":
        low = low.rstrip("%")
    return f"{low}\u2013{high}"


def _plus_minus(half: float, unit: str) -> str:
    """A mean's half-width in its unit: "± 5.1" (score), "± 3 s", "± 4.2 pts" (share)."""
    if unit == "share":
        return f"\u00b1 {half * 100:.1f} pts"
    if unit == "seconds":
        return f"\u00b1 {_seconds(half)}"
    if unit == "delta":
        return f"\u00b1 {half:.2f}"
    if unit == "score":
        return f"\u00b1 {half:.1f}"
    return f"\u00b1 {half:,.1f}"


def few_text(n: int, minimum: int, noun: str = "values") -> str:
    return (
        f"Only {n} {noun} (fewer than {minimum}): the 95% interval is wide and the figure may "
        "move a lot with the next few; read it with care."
    )


@register.simple_tag
def estimate(
    value: Any,
    unit: str = "",
    kind: str = "mean",
    stacked: bool = False,
    minimum: int | None = None,
    noun: str = "values",
    with_n: bool = True,
) -> SafeString:
    """A mean or a rate with its 95% interval and sample size, one way on every page:
    "82.4 ± 5.1 (n = 12)" for a mean (Student's t), "82% 74-88% (n = 40)" for a rate (Wilson's
    interval, not symmetric, so its bounds), and a muted "few" marker whose tooltip says why
    when n is below ``minimum`` (``INSIGHTS_MIN_N``). ``stacked`` puts the interval and n on a
    second, smaller line (tables with many columns); ``with_n=False`` leaves n out where a
    column beside it shows it. A count is just the count."""
    if value is None:
        return mark_safe("\u2014")
    number = figure(value.value, unit)
    if kind == "count":
        return format_html("{}", number)
    threshold = settings.INSIGHTS_MIN_N if minimum is None else minimum
    parts: list[str] = []
    title = f"n = {value.n}"
    if value.low is not None and value.high is not None:
        if kind == "rate":
            # Wilson's bounds come back as 1e-17 rather than 0 now and then: round first.
            low = figure(round(value.low, 9), "share").rstrip("%")
            high = figure(round(value.high, 9), "share")
            parts.append(f"{low}\u2013{high}")
            title = f"95% interval (Wilson) {low}\u2013{high}, n = {value.n}"
        else:
            parts.append(_plus_minus((value.high - value.low) / 2, unit))
            title = (
                f"95% interval (Student's t) {figure(value.low, unit)}\u2013"
                f"{figure(value.high, unit)}, n = {value.n}"
            )
    if with_n and (value.value is not None or value.n):
        parts.append(f"(n = {value.n:,})")
    few_marker = ""
    if value.n and value.n < threshold:
        few_marker = format_html(
            ' <span class="badge few-badge" tabindex="0" title="{}" data-testid="few">few</span>',
            few_text(value.n, threshold, noun),
        )
    detail = " ".join(parts)
    return format_html(
        '<span class="estimate{}" title="{}" data-n="{}">'
        '<span class="est-value">{}</span> <span class="est-detail{}">{}{}</span></span>',
        " is-few" if few_marker else "",
        title,
        value.n,
        number,
        " d-block" if stacked else "",
        detail,
        mark_safe(few_marker),  # built with format_html above
    )


@register.filter
def plus_minus(value: Any, unit: str = "") -> str:
    """A mean's "± 5.1" (empty without an interval)."""
    if value is None or value.low is None or value.high is None:
        return ""
    return _plus_minus((value.high - value.low) / 2, unit)


@register.simple_tag
def few_title(n: Any, noun: str = "values") -> str:
    return few_text(int(n or 0), settings.INSIGHTS_MIN_N, noun)


@register.filter
def few(n: Any) -> bool:
    return n is not None and int(n) < settings.INSIGHTS_MIN_N


@register.simple_tag
def min_n() -> int:
    return settings.INSIGHTS_MIN_N


@register.simple_tag
def heat_class(rate: float | None) -> str:
    """A cell's background, in steps of 10 points: from red (0%) through amber to green (100%),
    paler when few conversations count (insights.css; a class, since the Content-Security-Policy
    forbids style attributes). The percentage is always printed too: colour is never the only
    cue."""
    if rate is None:
        return ""
    return f"heat-{round(10 * max(0.0, min(1.0, rate)))}"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.filter
def estimate_of(row: Any, kpi: Any) -> Any:
    """A table row's figure for ``kpi`` (``TableRow.estimate``)."""
    return row.estimate(kpi)


@register.filter
def previous_of(row: Any, kpi: Any) -> Any:
    return row.previous(kpi)
