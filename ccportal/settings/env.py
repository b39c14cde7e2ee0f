"""Typed readers for the environment: the only place settings look at os.environ.

Every value may also come from a file named by ``<NAME>_FILE`` (Docker/Kubernetes secrets).
A required value that is missing stops the process at start with a message naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from django.core.exceptions import ImproperlyConfigured


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at {file_name!r}: {exc}") from exc
    return os.environ.get(name)


def _missing(name: str, hint: str) -> ImproperlyConfigured:
    extra = f" {hint}" if hint else ""
    return ImproperlyConfigured(
        f"The environment variable {name} is required but not set.{extra} "
        f"(It may also be read from a file named by {name}_FILE.)"
    )


def get_str(name: str, default: str | _Required = REQUIRED, *, hint: str = "") -> str:
    value = _raw(name)
    if value is None:
        if isinstance(default, _Required):
            raise _missing(name, hint)
        return default
    return value


def get_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {value!r}.")


def get_int(name: str, default: int | _Required = REQUIRED, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        if isinstance(default, _Required):
            raise _missing(name, "")
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}.")
    return number


def get_float(name: str, default: float) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}.") from None


def get_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]
