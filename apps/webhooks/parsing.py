"""Tolerant readers for Twilio payloads (twilio-wire.md §2.9): absent keys, nulls, odd formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime


class PayloadError(Exception):
    """The payload cannot be applied (a required field is missing or unusable). Not retried."""


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 with any number of fraction digits (Twilio sends nanoseconds); None if unusable."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:  # seconds or milliseconds since the epoch; a year past 9999 (or NaN) is unusable
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if not isinstance(value, str):
        return None
    text = _FRACTION.sub(r"\1", value.strip())
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.strptime(
                text, "%a, %d %b %Y %H:%M:%S %z"
            )  # RFC 2822, voice callbacks
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str:
    if value is None:
        return ""
    value = value if isinstance(value, str) else str(value)
    return value.replace("\x00", "") if "\x00" in value else value


def require(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value in (None, "") or not isinstance(value, (str, int)):
        raise PayloadError(f"{where}: required field {key!r} is missing")
    return str(value)


def number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def integer(value: Any) -> int | None:
    result = number(value)
    return int(result) if result is not None else None
