"""`manage.py api_token <username> [--rotate]`: print the API token of a user, creating it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.accounts.services import api_token_issue


class Command(BaseCommand):
    help = (
        "Print the API token of a user, creating it if they have none. Send it as "
        "'Authorization: Token <key>'; it sees what the user sees."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="Replace the existing token with a new one."
        )

    def handle(self, *args: Any, username: str, rotate: bool, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(
                f"User {username!r} is inactive; an inactive user's token is refused."
            )
        token, created = api_token_issue(user=user, rotate=rotate)
        if created:
            self.stderr.write(f"Created a token for {username}.")
        if not user.role and not user.is_superuser:
            self.stderr.write(
                f"Warning: {username} has no role, so the API will show them nothing."
            )
        # Only the key on stdout, so `$(manage.py api_token alice)` works in scripts.
        self.stdout.write(token.key)
