"""Goal figures in their metric's unit (points, %, seconds, ±sentiment)."""

from __future__ import annotations

from django import template

from ..selectors.goals import fmt

register = template.Library()


@register.filter
def goal_fmt(value: float | None, metric: str) -> str:
    return fmt(metric, value)
