"""The one family of errors services raise; views map them to 4xx JSON or form errors."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class ValidationFailed(ApplicationError):
    """Input that fails validation; ``errors`` maps a field path to its messages.

    Paths are dotted ("name", "sections.0.weight"); pages show each message next to its field
    and the API returns them as ``extra["errors"]``.
    """

    code = "validation_failed"

    def __init__(self, errors: dict[str, list[str]], message: str = "") -> None:
        count = sum(len(messages) for messages in errors.values())
        super().__init__(
            message or f"{count} problem{'s' if count != 1 else ''} to fix.",
            extra={"errors": errors},
        )
        self.errors = errors
