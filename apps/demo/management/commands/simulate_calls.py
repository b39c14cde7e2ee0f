"""`manage.py simulate_calls`: live demo traffic, the Harper Valley calls as signed webhooks."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.demo.dataset import read_calls
from apps.demo.simulator import SimulatorError, credentials_from, simulate


class Command(BaseCommand):
    help = (
        "Replay the Harper Valley demo calls against a running portal as signed Conversation "
        "Orchestrator webhooks, several calls at once, in real time or faster."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            help="the portal's public base URL, which the signature covers "
            "(default: PUBLIC_BASE_URL)",
        )
        parser.add_argument("--calls", type=int, default=10, help="calls in total (default 10)")
        parser.add_argument("--concurrency", type=int, default=3, help="calls at once (default 3)")
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="time scale: 1 is real time, 10 ten times faster (default 1)",
        )
        parser.add_argument(
            "--loop", action="store_true", help="keep calling until stopped; ignores --calls"
        )
        parser.add_argument(
            "--token",
            help="Twilio auth token to sign with, 'AC...:token' or bare "
            "(default: the first of TWILIO_AUTH_TOKENS)",
        )
        parser.add_argument("--seed", type=int, help="pick the same calls in the same order")

    def handle(self, *args: Any, **options: Any) -> None:
        entry = options["token"] or next(iter(settings.TWILIO_AUTH_TOKENS), "")
        if not entry:
            raise CommandError(
                "No Twilio auth token to sign with: set TWILIO_AUTH_TOKENS to the value the "
                "portal uses, or pass --token."
            )
        url = (options["url"] or settings.PUBLIC_BASE_URL).rstrip("/")
        self.stdout.write(
            f"Simulating calls against {url}: "
            + ("until stopped" if options["loop"] else f"{options['calls']} calls")
            + f", {options['concurrency']} at once, speed x{options['speed']:g}"
        )
        try:
            with _sigterm_as_interrupt():
                summary = simulate(
                    base_url=url,
                    credentials=credentials_from(entry, account_sid=settings.TWILIO_ACCOUNT_SID),
                    calls=read_calls(),
                    total=None if options["loop"] else options["calls"],
                    concurrency=options["concurrency"],
                    speed=options["speed"],
                    seed=options["seed"],
                    out=self.stdout.write,
                )
        except SimulatorError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(("Stopped: " if summary.interrupted else "Done: ") + summary.line())
        if summary.failure:
            raise CommandError(summary.failure)
        if summary.errors:
            raise CommandError(f"{summary.errors} events were not acknowledged; see above.")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM (how `make run` stops its processes) hang up the calls as Ctrl+C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
