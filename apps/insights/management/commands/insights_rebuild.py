"""``manage.py insights_rebuild [--since YYYY-MM-DD]``: recompute every fact and rollup."""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.insights.services import insights_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the facts of every conversation (or those started since a date) and the "
        "rollups of those days, from what is stored. Safe while workers run."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--since", help="only conversations started on or after this date")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["since"]:
            try:
                since = date.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(f"--since wants a date such as 2026-12-01 ({exc})") from exc
        show = not options["no_progress"]
        began = time.monotonic()

        def progress(stage: str, done: int, total: int) -> None:
            if not show:
                return
            width = 30
            filled = int(width * done / total) if total else width
            bar = "#" * filled + "-" * (width - filled)
            elapsed = time.monotonic() - began
            sys.stderr.write(f"\r{stage:<8} [{bar}] {done:>9,}/{total:,}  {elapsed:6.1f} s")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()

        report = insights_rebuild(since=since, progress=progress)
        self.stdout.write(
            f"Rebuilt the facts of {report.conversations:,} conversations "
            f"({report.seconds_facts} s on {report.workers} connection(s); "
            f"{report.suggestions_scored:,} suggestions scored) and "
            f"{report.rollup_rows:,} rollup rows ({report.seconds_rollups} s)."
        )
