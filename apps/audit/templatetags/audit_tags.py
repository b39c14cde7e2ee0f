from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()

_LONG = 160


@register.filter
def audit_value(value: Any) -> str:
    """A snapshot value as text: "—" for none, JSON for lists and objects, long text cut."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _LONG else text[: _LONG - 1] + "…"
