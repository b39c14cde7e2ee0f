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
