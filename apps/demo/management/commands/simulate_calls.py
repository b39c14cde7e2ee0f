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
from apps.demo.relay_caller import CallerError, simulate_virtual_agent
from apps.demo.simulator import Credentials, SimulatorError, credentials_from, simulate


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
        parser.add_argument(
            "--virtual-agent",
            action="store_true",
            help="play the callers against the portal's virtual agent over ConversationRelay "
            "(signed socket, <Connect action> callback, Orchestrator events AI_AGENT then "
            "HUMAN_AGENT) instead of human-only calls",
        )
        parser.add_argument(
            "--mix-virtual-agent",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="alongside the human-only calls, one virtual-agent call every SECONDS "
            "(default 0: none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        entry = options["token"] or next(iter(settings.TWILIO_AUTH_TOKENS), "")
        if not entry:
            raise CommandError(
                "No Twilio auth token to sign with: set TWILIO_AUTH_TOKENS to the value the "
                "portal uses, or pass --token."
            )
        url = (options["url"] or settings.PUBLIC_BASE_URL).rstrip("/")
        try:
            credentials = credentials_from(entry, account_sid=settings.TWILIO_ACCOUNT_SID)
        except SimulatorError as exc:
            raise CommandError(str(exc)) from exc
        if options["virtual_agent"]:
            self._virtual_agent(url, credentials, options)
            return
        self.stdout.write(
            f"Simulating calls against {url}: "
            + ("until stopped" if options["loop"] else f"{options['calls']} calls")
            + f", {options['concurrency']} at once, speed x{options['speed']:g}"
        )
        mixer = self._mixer(
            url, credentials, options["mix_virtual_agent"], options["seed"], options["speed"]
        )
        try:
            with _sigterm_as_interrupt():
                summary = simulate(
                    base_url=url,
                    credentials=credentials,
                    calls=read_calls(),
                    total=None if options["loop"] else options["calls"],
                    concurrency=options["concurrency"],
                    speed=options["speed"],
                    seed=options["seed"],
                    out=self.stdout.write,
                )
        except SimulatorError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if mixer is not None:
                mixer[0].set()
                mixer[1].join(timeout=15)
        self.stdout.write(("Stopped: " if summary.interrupted else "Done: ") + summary.line())
        if summary.failure:
            raise CommandError(summary.failure)
        if summary.errors:
            raise CommandError(f"{summary.errors} events were not acknowledged; see above.")

    def _virtual_agent(self, url: str, credentials: Credentials, options: dict[str, Any]) -> None:
        self.stdout.write(
            f"Virtual-agent calls against {url}: "
            + ("until stopped" if options["loop"] else f"{options['calls']} calls")
            + f", {options['concurrency']} at once"
        )
        try:
            with _sigterm_as_interrupt():
                summary = simulate_virtual_agent(
                    base_url=url,
                    token=credentials.token,
                    account_sid=credentials.account_sid,
                    calls=read_calls(),
                    total=None if options["loop"] else options["calls"],
                    concurrency=options["concurrency"],
                    seed=options["seed"],
                    speed=options["speed"],
                    out=self.stdout.write,
                )
        except CallerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("Done: " + summary.line())
        if summary.errors:
            raise CommandError(f"{summary.errors} virtual-agent requests failed; see above.")

    def _mixer(
        self, url: str, credentials: Credentials, every: float, seed: int | None, speed: float
    ) -> tuple[threading.Event, threading.Thread] | None:
        """Virtual-agent calls in the background of the human-only ones (``make run``)."""
        if every <= 0:
            return None
        stop = threading.Event()
        thread = threading.Thread(
            target=simulate_virtual_agent,
            kwargs={
                "base_url": url,
                "token": credentials.token,
                "account_sid": credentials.account_sid,
                "calls": read_calls(),
                "total": None,
                "seed": seed,
                "pause": every,
                "speed": speed,
                "stop": stop,
                "out": self.stdout.write,
            },
            name="virtual-agent-mixer",
            daemon=True,
        )
        thread.start()
        return stop, thread


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
