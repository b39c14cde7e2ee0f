"""Form helpers shared by every app's pages."""

from __future__ import annotations

from django import forms


def add_service_errors(
    form: forms.Form, errors: dict[str, list[str]], aliases: dict[str, str] | None = None
) -> None:
    """Put a service's ``ValidationFailed.errors`` next to their fields, so a page shown again
    keeps what was typed. ``aliases`` maps an error path to a field name; a path with no field
    becomes a message at the top, prefixed with the path ("__all__" without)."""
    for path, messages in errors.items():
        name = (aliases or {}).get(path, path)
        for message in messages:
            if name in form.fields:
                form.add_error(name, message)
            elif name == "__all__":
                form.add_error(None, message)
            else:
                form.add_error(None, f"{path}: {message}")


# The largest id PostgreSQL's bigint holds: a longer string of digits is no id of ours.
_MAX_ID = 2**63 - 1


def parse_id(raw: object) -> int | None:
    """A positive id from a query-string value, or None: ASCII digits only (``"²".isdigit()`` is
    true, ``int("²")`` fails), and within PostgreSQL's bigint, so a lookup never errors."""
    text = str(raw or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= _MAX_ID else None
