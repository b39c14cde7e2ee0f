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
