"""``manage.py retention [--dry-run]``: what the nightly retention run purges or anonymises."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.privacy.retention import retention_counts, retention_run


class Command(BaseCommand):
    help = (
        "Purge or anonymise stored data past its retention schedule (RETENTION_*_DAYS, "
        "INBOX_RETENTION_DAYS). With --dry-run, print per kind how many rows would go."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = retention_counts()
        width = max(len(row.kind.key) for row in counts)
        for row in counts:
            if row.cutoff is None:
                line = f"{row.kind.key:<{width}}  kept for ever ({row.kind.setting}=0)"
            else:
                verb = "would be " if options["dry_run"] else ""
                line = (
                    f"{row.kind.key:<{width}}  {row.due} {verb}"
                    f"{'deleted' if row.kind.action == 'PURGE' else 'anonymised'} "
                    f"(older than {row.kind.days} days, before {row.cutoff:%Y-%m-%d %H:%M} UTC)"
                )
            self.stdout.write(line)
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
            return
        handled = retention_run()
        total = sum(handled.values())
        self.stdout.write(self.style.SUCCESS(f"Done: {total} rows handled {handled}."))
