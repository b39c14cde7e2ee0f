from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()

_LONG = 160


@register.filter
def audit_value(value: Any) -> str:
    """A snapshot value as text: "—" for none, JSON for lists and objects, long text cut."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and len(value) >= 25 and value[10:11] == "T":
        try:  # a snapshot's timestamp (ISO 8601, UTC): shown in the portal's time zone
            return timezone.localtime(datetime.fromisoformat(value)).strftime("%b %-d, %Y %H:%M:%S")
        except ValueError:
            pass
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _LONG else text[: _LONG - 1] + "…"
