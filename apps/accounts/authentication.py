"""Who is asking: API tokens for DRF, and the client's address for the login lockout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from apps.common import clientip

from . import services

if TYPE_CHECKING:
    from rest_framework.request import Request

    from .models import ApiToken, User

# "Bearer" is the standard; "Token" is what DRF's own tokens used, kept for existing scripts.
KEYWORDS = {b"bearer", b"token"}
CHALLENGE = 'Bearer realm="api"'


class TokenAuthenticationFailed(exceptions.AuthenticationFailed):
    """A token was sent and refused: answered 401 with a Bearer challenge (ccportal/api.py),
    where DRF answers 403 for a request with no credentials (the session comes first)."""


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` (or ``Token <token>``) with a token of
    ``apps.accounts.models.ApiToken``: unknown, expired and revoked tokens are refused (401)."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # another scheme, or none: not ours to judge
        if len(parts) != 2:
            raise TokenAuthenticationFailed(
                "Invalid Authorization header: expected 'Bearer <token>'."
            )
        try:
            secret = parts[1].decode()
        except UnicodeDecodeError:
            raise TokenAuthenticationFailed("Invalid token.") from None
        try:
            token = services.api_token_authenticate(secret=secret)
        except services.TokenRefused as refused:
            raise TokenAuthenticationFailed(refused.message) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from /account/tokens/ (or `manage.py api_token`).",
        }


def client_ip(request: HttpRequest) -> str | None:
    """The address the login lockout counts failures for (AXES_CLIENT_IP_CALLABLE): the one
    reading of the client's address (apps.common.clientip), forwarded headers trusted only from
    TRUSTED_PROXIES."""
    return clientip.client_ip(request) or None
