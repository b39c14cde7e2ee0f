"""``manage.py generate_conversations --conversations N``: synthetic history at volume."""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.demo.generate import generate_conversations
from apps.insights.services import insights_rebuild


class Command(BaseCommand):
    help = (
        "Write N synthetic conversations (participants, timed communications, operator "
        "results, suggestions, handoffs, flags, some reviews) with COPY, then rebuild insights. "
        "Run it while nothing else inserts conversations (ids are reserved up front)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--conversations", type=int, required=True)
        parser.add_argument("--days", type=int, default=90, help="history length (default 90)")
        parser.add_argument("--end", help="last day, YYYY-MM-DD (default yesterday)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--no-rebuild", action="store_true", help="skip insights_rebuild")

    def handle(self, *args: Any, **options: Any) -> None:
        n = options["conversations"]
        if n < 1 or n > 5_000_000:
            raise CommandError("--conversations must be between 1 and 5,000,000.")
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        try:
            end = date.fromisoformat(options["end"]) if options["end"] else None
        except ValueError as exc:
            raise CommandError(f"--end wants a date such as 2026-12-01 ({exc})") from exc
        began = time.monotonic()

        def progress(done: int, total: int) -> None:
            bar = "#" * int(30 * done / total)
            sys.stderr.write(f"\rwriting [{bar:<30}] {done:>9,}/{total:,}")
            sys.stderr.write("\n" if done >= total else "")
            sys.stderr.flush()

        counts = generate_conversations(
            conversations=n, days=options["days"], seed=options["seed"], end=end, progress=progress
        )
        seconds = time.monotonic() - began
        self.stdout.write(
            f"Wrote {counts.conversations:,} conversations, {counts.communications:,} "
            f"communications, {counts.participants:,} participants, {counts.results:,} operator "
            f"results, {counts.handoffs:,} handoffs, {counts.flags:,} flags and "
            f"{counts.reviews:,} reviews in {seconds:.1f} s "
            f"({counts.communications / seconds:,.0f} communications/s)."
        )
        if not options["no_rebuild"]:
            report = insights_rebuild()
            self.stdout.write(
                f"Insights rebuilt: {report.conversations:,} conversations in "
                f"{report.seconds_facts + report.seconds_rollups:.1f} s."
            )
