"""The scorecard's small trend charts, drawn as inline SVG from weekly points: a dot per week
with its 95% interval as a vertical bar, joined by a line; weeks with few values are pale."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

register = template.Library()

WIDTH, HEIGHT = 360, 130
LEFT, RIGHT, TOP, BOTTOM = 34, 350, 10, 104


@register.simple_tag
def trend_svg(trend: Any) -> dict[str, Any]:
    """Coordinates for ``coaching/_score_trend.html``: scores on a fixed 0-100 axis (so two
    agents' charts compare at a glance), anything else on its own range."""
    values = [p.value for p in trend.points]
    known = [v for v in values if v.value is not None]
    if trend.unit == "score":
        low, high = 0.0, 100.0
    else:
        bounds = [b for v in known for b in (v.low, v.high, v.value) if b is not None]
        low, high = (min(bounds), max(bounds)) if bounds else (0.0, 1.0)
        if high - low < 1e-9:
            low, high = low - 1, high + 1

    def y_of(value: float) -> float:
        value = max(low, min(high, value))
        return round(BOTTOM - (value - low) / (high - low) * (BOTTOM - TOP), 1)

    count = len(values)
    step = (RIGHT - LEFT) / max(count - 1, 1)
    points = []
    for index, (point, value) in enumerate(zip(trend.points, values, strict=True)):
        if value.value is None:
            continue
        x = round(LEFT + index * step if count > 1 else (LEFT + RIGHT) / 2, 1)
        points.append(
            {
                "x": x,
                "y": y_of(value.value),
                "low": y_of(value.low) if value.low is not None else None,
                "high": y_of(value.high) if value.high is not None else None,
                "few": value.n < settings.COACHING_MIN_N,
                "point": point,
            }
        )
    path = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(points))
    grid = [
        {"y": y_of(v), "label": f"{v:.0f}" if trend.unit == "score" else f"{v:.2g}"}
        for v in (low, (low + high) / 2, high)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": RIGHT,
        "bottom": BOTTOM + 18,
        "points": points,
        "path": path,
        "grid": grid,
        "first": trend.points[0] if trend.points else None,
        "last": trend.points[-1] if trend.points else None,
    }
