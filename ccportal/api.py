"""Project-wide API plumbing: pagination and the mapping of our errors to JSON 4xx answers."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.accounts.authentication import CHALLENGE, TokenAuthenticationFailed
from apps.accounts.scoping import can_use
from apps.common.errors import ApplicationError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(
            {
                "detail": exc.message,
                "code": exc.code,
                **({"extra": exc.extra} if exc.extra else {}),
            },
            status=exc.status,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": response.data}
    if response is not None and isinstance(exc, TokenAuthenticationFailed):
        # A refused token is a 401 with its challenge (RFC 6750); DRF made it a 403 because the
        # session, which has no challenge, is the first authentication.
        response.status_code = 401
        response["WWW-Authenticate"] = f'{CHALLENGE}, error="invalid_token"'
    return response


class CanReadApiDocs(BasePermission):
    """The API schema and its docs pages: for the roles that use the API."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "api_docs")
