"""Showing figures: units, intervals, changes and heatmap cells, one way on every page."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.html import format_html

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
    low, high = figure(estimate.low, unit), figure(estimate.high, unit)
    if unit == "share":
        low = low.rstrip("%")
    return f"{low}\u2013{high}"


@register.filter
def few(n: Any) -> bool:
    return n is not None and int(n) < settings.INSIGHTS_MIN_N


@register.simple_tag
def min_n() -> int:
    return settings.INSIGHTS_MIN_N


@register.simple_tag
def heat_style(rate: float | None, muted: bool = False) -> str:
    """A cell's background: from red (0%) through amber to green (100%), paler when few
    conversations count. The percentage is always printed too: colour is never the only cue."""
    if rate is None:
        return ""
    hue = round(120 * max(0.0, min(1.0, rate)))
    lightness = 90 if muted else 78
    saturation = 25 if muted else 65
    return format_html("background-color: hsl({}, {}%, {}%)", hue, saturation, lightness)


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
