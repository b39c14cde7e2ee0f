from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.webhooks.choices import EventStatus
from apps.webhooks.services import inbox_replay


def _moment(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise CommandError(f"{value!r} is not a date or ISO datetime")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Queue stored webhook events for processing again (by id, status or time range)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="event ids")
        parser.add_argument("--status", choices=[s for s in EventStatus.values if s != "rejected"])
        parser.add_argument("--since", help="received at or after (date or ISO datetime)")
        parser.add_argument("--until", help="received at or before (date or ISO datetime)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["ids"] or options["status"] or options["since"] or options["until"]):
            raise CommandError("Say which events: ids, --status, --since and/or --until.")
        count = inbox_replay(
            ids=options["ids"] or None,
            status=options["status"],
            since=_moment(options["since"]) if options["since"] else None,
            until=_moment(options["until"]) if options["until"] else None,
        )
        self.stdout.write(self.style.SUCCESS(f"Queued {count} event(s) for processing."))
