"""Small helpers of the QA templates: badges, labels and the trend chart's geometry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..choices import DisputeStatus, ItemSource, ItemStatus, Priority

register = template.Library()

_PRIORITY: dict[int, str] = {
    Priority.URGENT: "text-bg-danger",
    Priority.HIGH: "text-bg-warning",
    Priority.NORMAL: "text-bg-light border",
    Priority.LOW: "text-bg-light border text-body-secondary",
}
_SOURCE_ICON: dict[str, str] = {
    ItemSource.FLAG: "bi-flag-fill text-danger",
    ItemSource.SAMPLING: "bi-shuffle text-primary",
    ItemSource.MANUAL: "bi-hand-index-thumb text-body-secondary",
    ItemSource.CALIBRATION: "bi-bullseye text-info",
}
_STATUS: dict[str, str] = {
    ItemStatus.OPEN: "text-bg-light border",
    ItemStatus.CLAIMED: "text-bg-primary",
    ItemStatus.DONE: "text-bg-success",
    ItemStatus.REMOVED: "text-bg-secondary",
}
_DISPUTE: dict[str, str] = {
    DisputeStatus.OPEN: "text-bg-warning",
    DisputeStatus.ACCEPTED: "text-bg-success",
    DisputeStatus.PARTIAL: "text-bg-info",
    DisputeStatus.REJECTED: "text-bg-secondary",
}
_OUTCOME = {"MET": ("Met", "success"), "NOT_MET": ("Not met", "danger"), "NA": ("N/A", "secondary")}


@register.filter
def priority_badge(value: int) -> str:
    return _PRIORITY.get(value, "text-bg-light border")


@register.filter
def source_icon(value: str) -> str:
    return _SOURCE_ICON.get(value, "bi-question-circle")


@register.filter
def item_status_badge(value: str) -> str:
    return _STATUS.get(value, "text-bg-light border")


@register.filter
def dispute_badge(value: str) -> str:
    return _DISPUTE.get(value, "text-bg-light border")


@register.filter
def outcome_label(value: str | None) -> str:
    return _OUTCOME.get(value or "", ("—", "secondary"))[0]


@register.filter
def outcome_colour(value: str | None) -> str:
    return _OUTCOME.get(value or "", ("—", "secondary"))[1]


@register.filter
def score_colour(value: Decimal | float | None) -> str:
    """A score's colour: green from 85, amber from 70, red below (a reading aid, not a rule)."""
    if value is None:
        return "secondary"
    number = float(value)
    return "success" if number >= 85 else "warning" if number >= 70 else "danger"


@register.filter
def is_past(value: datetime | None) -> bool:
    return value is not None and value < timezone.now()


@register.filter
def due_text(value: datetime | None) -> str:
    """A due date in a word or two: "in 5 days", "in 3 h", "2 days overdue"."""
    if value is None:
        return "—"
    seconds = (value - timezone.now()).total_seconds()
    amount = abs(seconds)
    if amount >= 86_400:
        text = f"{round(amount / 86_400)} day{'s' if round(amount / 86_400) != 1 else ''}"
    elif amount >= 3_600:
        text = f"{round(amount / 3_600)} h"
    else:
        text = f"{max(round(amount / 60), 1)} min"
    return f"in {text}" if seconds >= 0 else f"{text} overdue"


@register.filter
def segment_label(value: str) -> str:
    return {"AI_AGENT": "AI agent", "HUMAN_AGENT": "Human agent"}.get(value, value)


@register.simple_tag
def trend_chart(
    points: Sequence[Any], summary: Any = None, width: int = 1200, height: int = 170
) -> dict[str, Any]:
    """Coordinates of a score-over-time line chart (0-100 on the y axis), drawn as inline SVG
    by ``qa/_trend.html``: nothing to download, readable without JavaScript. With a
    ``summary`` (``selectors.score_summary``) the average is a line and its 95% interval a band
    (clipped to 0-100)."""
    pad_left, pad_right, pad_top, pad_bottom = 34, 14, 10, 22
    inner_w = width - pad_left - pad_right
    inner_h = height - pad_top - pad_bottom
    n = len(points)
    coords = []
    for i, point in enumerate(points):
        x = pad_left + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)
        y = pad_top + inner_h * (1 - float(point.score) / 100)
        coords.append({"x": round(x, 1), "y": round(y, 1), "point": point})
    mean = sum(float(p.score) for p in points) / n if n else None

    def y_of(value: float) -> float:
        return round(pad_top + inner_h * (1 - max(0.0, min(100.0, value)) / 100), 1)

    band = None
    if summary is not None and summary.mean is not None:
        band = {"mean": y_of(summary.mean)}
        if summary.low is not None and summary.high is not None:
            band["top"] = y_of(summary.high)
            band["height"] = round(y_of(summary.low) - y_of(summary.high), 1)
    return {
        "band": band,
        "inner_width": inner_w,
        "width": width,
        "height": height,
        "points": coords,
        "path": " ".join(
            f"{'M' if i == 0 else 'L'}{c['x']},{c['y']}" for i, c in enumerate(coords)
        ),
        "grid": [
            {"y": round(pad_top + inner_h * (1 - v / 100), 1), "label": v, "band": v in (70, 85)}
            for v in (0, 50, 70, 85, 100)
        ],
        "left": pad_left,
        "right": width - pad_right,
        "bottom": height - pad_bottom + 14,
        "mean": None if mean is None else round(mean, 1),
        "first": points[0] if points else None,
        "last": points[-1] if points else None,
    }


@register.filter
def name_in(key: str, names: dict[str, str]) -> str:
    """A criterion's name from its key (the key itself when the rubric has no such criterion)."""
    return names.get(key, key)


@register.filter
def dom_id(key: str) -> str:
    """An answer key ("HUMAN_AGENT:greets") as an HTML id part ("HUMAN_AGENT--greets")."""
    return key.replace(":", "--")


TIER_BADGES = {
    "TRUSTED": "text-bg-info",
    "REVIEW": "text-bg-light border",
    "MANUAL": "text-bg-warning",
}
TIER_ICONS = {"TRUSTED": "bi-shield-check", "REVIEW": "bi-person-check", "MANUAL": "bi-hand-index"}


@register.filter
def tier_badge(value: str) -> str:
    return TIER_BADGES.get(value, "text-bg-light border")


@register.filter
def tier_icon(value: str) -> str:
    return TIER_ICONS.get(value, "bi-question-circle")


@register.filter
def kappa(value: float | None) -> str:
    """A kappa (or any agreement figure) with two decimals; an en dash when undefined."""
    return "\u2013" if value is None else f"{value:.2f}"


@register.filter
def percent(value: float | None, places: int = 0) -> str:
    return "\u2013" if value is None else f"{value * 100:.{places}f}%"


@register.simple_tag
def score_estimate(summary: Any) -> SafeString:
    """An average score as every page shows one: "82.4 ± 5.1 (n = 12)" (95%, Student's t), and
    a muted "few" marker whose tooltip says why when n is below ``QA_SCORE_MIN_N``."""
    if summary is None or summary.mean is None:
        return format_html("{}", "\u2014")
    interval = ""
    title = f"n = {summary.n}"
    if summary.half_width is not None:
        interval = f" \u00b1 {summary.half_width:.1f}"
        title = f"95% interval (Student's t) {summary.low:.1f}\u2013{summary.high:.1f}, {title}"
    few = ""
    if summary.few:
        few = format_html(
            ' <span class="badge few-badge" tabindex="0" title="{}" data-testid="few">few</span>',
            f"Only {summary.n} review{'s' if summary.n != 1 else ''} (fewer than "
            f"{summary.minimum}): the 95% interval is wide and the average may move a lot with "
            "the next few; read it with care.",
        )
    return format_html(
        '<span class="estimate{}" title="{}"><span class="est-value">{}</span>'
        '<span class="est-detail">{} (n = {})</span>{}</span>',
        " is-few" if few else "",
        title,
        f"{summary.mean:.1f}",
        interval,
        summary.n,
        few,
    )
