"""`manage.py api_token <username>`: make an API token for a user and print it (once)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.selectors import api_token_list
from apps.accounts.services import (
    api_token_create,
    api_token_revoke,
    api_tokens_revoke_named,
)
from apps.common.errors import ApplicationError, ValidationFailed


class Command(BaseCommand):
    help = (
        "Make an API token for a user and print it; it is shown only this once (only its hash "
        "is kept). Send it as 'Authorization: Bearer <token>'; it sees what the user sees. "
        "--list shows a user's tokens, --revoke ID revokes one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="What the token is for (default: cli).")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Days until it expires (default: API_TOKEN_DEFAULT_DAYS, "
            f"{settings.API_TOKEN_DEFAULT_DAYS}).",
        )
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Revoke the user's live tokens with the same name first.",
        )
        parser.add_argument("--list", action="store_true", help="List the user's tokens.")
        parser.add_argument("--revoke", type=int, metavar="ID", help="Revoke one token by id.")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if options["list"]:
            now = timezone.now()
            for token in api_token_list(user=user):
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(
                    f"{token.pk:>6}  {token.prefix}…  {token.status(now):<8} "
                    f"expires {token.expires_at:%Y-%m-%d}  used {used}  {token.name}"
                )
            return
        if options["revoke"] is not None:
            try:
                revoked = api_token_revoke(token_id=options["revoke"], by=user)
            except ApplicationError as error:
                raise CommandError(f"{error.message} (ids: --list)") from None
            self.stderr.write("Revoked." if revoked else "It was revoked already.")
            return
        if not user.is_active:
            raise CommandError(
                f"User {username!r} is inactive; an inactive user's token is refused."
            )
        if options["rotate"]:
            count = api_tokens_revoke_named(user=user, name=options["name"], by=user)
            self.stderr.write(f"Revoked {count} token(s) named {options['name']!r}.")
        try:
            issued = api_token_create(user=user, name=options["name"], days=options["days"])
        except ValidationFailed as failed:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in failed.errors.items())
            raise CommandError(problems) from None
        self.stderr.write(
            f"Created the token {issued.token.prefix}… for {username}, expiring "
            f"{issued.token.expires_at:%Y-%m-%d}. It is shown only now."
        )
        if not user.role and not user.is_superuser:
            self.stderr.write(
                f"Warning: {username} has no role, so the API will show them nothing."
            )
        # Only the token on stdout, so `$(manage.py api_token alice)` works in scripts.
        self.stdout.write(issued.secret)
