"""Filters of the impact preview pages: signed deltas and their colours."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def signed(value: float | Decimal | None, places: int = 1) -> str:
    """``-1.25`` -> ``"\u22121.3"`` (a minus sign), ``2`` -> ``"+2.0"``, ``0`` -> ``"0.0"``,
    None -> an em dash."""
    if value is None:
        return "—"
    number = float(value)
    text = f"{abs(number):.{int(places)}f}"
    if float(text) == 0:
        return text
    return f"+{text}" if number > 0 else f"\u2212{text}"


@register.filter
def delta_colour(value: float | Decimal | None) -> str:
    """A text colour class: red for a drop, green for a gain, grey for none."""
    if value is None or abs(float(value)) < 0.05:
        return "text-body-secondary"
    return "text-success" if float(value) > 0 else "text-danger"


@register.filter
def delta_of(row: object) -> Decimal | None:
    """An impact row's after minus before (None when either side has no score)."""
    before, after = getattr(row, "before", None), getattr(row, "after", None)
    if before is None or after is None:
        return None
    return after - before


@register.filter
def get_item(mapping: object, key: str) -> object:
    """``mapping[key]``, or None (criterion names by key)."""
    return mapping.get(key) if isinstance(mapping, dict) else None
