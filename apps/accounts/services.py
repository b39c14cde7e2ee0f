"""Writes to users, teams and agents."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from .models import User


@transaction.atomic
def api_token_issue(*, user: User, rotate: bool = False) -> tuple[Token, bool]:
    """The user's API token, created if they have none; ``rotate`` replaces an existing one.

    Returns the token and whether it is new. A user keeps one token: its key is the credential,
    so rotating is how a leaked key is revoked.
    """
    if rotate:
        Token.objects.filter(user=user).delete()
    token, created = Token.objects.get_or_create(user=user)
    return token, created
