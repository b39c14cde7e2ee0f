"""The inbox's monthly partitions: made ahead of time, dropped whole past retention.

The inbox is ``PARTITION BY RANGE (received_at)``, one partition a month (UTC) and a DEFAULT
partition that takes a delivery whose month has none yet, so a missing partition never refuses
a webhook (migration 0003). A daily task keeps ``MONTHS_AHEAD`` months made, moves rows that
landed in the default partition into their month's, and drops a month once all of it is past
``INBOX_RETENTION_DAYS`` and holds only settled events: one ``DROP TABLE`` instead of a
DELETE per row and the vacuum after it. Months that still hold failed, dead or rejected events
(kept for investigation) are left to the row-by-row retention (``services.inbox_purge``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import InboundEvent, InboxKey
from .selectors import SETTLED

TABLE = "webhooks_inboundevent"
DEFAULT = f"{TABLE}_default"
MONTHS_AHEAD = 2
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _utc(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


def inbox_partitions() -> list[Partition]:
    """The month partitions, oldest first (the default partition is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match:
            start, end = (datetime.fromisoformat(value) for value in match.groups())
            found.append(Partition(name, start, end))
    return sorted(found, key=lambda partition: partition.start)


@transaction.atomic
def inbox_partition_create(*, month: date) -> bool:
    """Make ``month``'s partition unless it exists; rows of that month waiting in the default
    partition move into it. Returns True when it was made."""
    if any(p.start == _utc(month) for p in inbox_partitions()):
        return False
    name, start, end = partition_name(month), _utc(month), _utc(next_month(month))
    with connection.cursor() as cursor:
        # CREATE ... PARTITION OF refuses a range that rows in the default partition fall in:
        # make the table, move those rows, then attach it (which builds its indexes).
        cursor.execute(
            f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{DEFAULT}" WHERE received_at >= %s AND received_at < %s'
            f' RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
            [start, end],
        )
        cursor.execute(
            f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
            [start, end],
        )
    return True


def inbox_partitions_ensure(
    *, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD
) -> int:
    """This month's and the next ``months_ahead`` months' partitions; returns how many were
    made. Also makes the partitions of older months whose rows wait in the default partition."""
    month = month_start(timezone.localtime(now or timezone.now(), UTC))
    months = {month}
    for _ in range(months_ahead):
        month = next_month(month)
        months.add(month)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', received_at AT TIME ZONE 'UTC')::date"
            f' FROM "{DEFAULT}"'
        )
        months.update(row[0] for row in cursor.fetchall())
    return sum(inbox_partition_create(month=m) for m in sorted(months))


KEY_BATCH = 10_000


def _month(partition: Partition) -> dict[str, datetime]:
    return {"received_at__gte": partition.start, "received_at__lt": partition.end}


def _holds_unsettled(partition: Partition) -> bool:
    return InboundEvent.objects.filter(**_month(partition)).exclude(status__in=SETTLED).exists()


def _release_keys(partition: Partition) -> int:
    """Delete a month's idempotency keys in batches, each in its own short transaction, so the
    inbox (and the acknowledgement path) is never locked for a month's worth of deletes."""
    released = 0
    while True:
        with transaction.atomic():
            ids = list(
                InboxKey.objects.filter(**_month(partition)).values_list("pk", flat=True)[
                    :KEY_BATCH
                ]
            )
            if not ids:
                return released
            released += InboxKey.objects.filter(pk__in=ids).delete()[0]


def inbox_partitions_drop_expired(*, now: datetime | None = None) -> list[str]:
    """Drop every month wholly older than INBOX_RETENTION_DAYS that holds only settled events
    (and free their idempotency keys). Returns the names of the partitions dropped."""
    days = settings.INBOX_RETENTION_DAYS
    if days <= 0:
        return []
    cutoff = (now or timezone.now()) - timedelta(days=days)
    dropped = []
    for partition in inbox_partitions():
        if partition.end > cutoff:
            break
        if _holds_unsettled(partition):
            continue  # kept for investigation: the row-by-row retention handles the rest
        # A key freed here lets a redelivery of an event this old be stored again, as the
        # row-by-row purge did; Twilio retries for hours, not for INBOX_RETENTION_DAYS.
        _release_keys(partition)
        with transaction.atomic():
            with connection.cursor() as cursor:  # no status changes while we look again
                cursor.execute(f'LOCK TABLE "{partition.name}" IN EXCLUSIVE MODE')
                if _holds_unsettled(partition):  # replayed meanwhile: keep it and its keys
                    cursor.execute(
                        "INSERT INTO webhooks_inboxkey (source, idempotency_key, received_at,"
                        f' event_id) SELECT source, idempotency_key, received_at, id FROM "'
                        f'{partition.name}" WHERE idempotency_key IS NOT NULL'
                        " ON CONFLICT DO NOTHING"
                    )
                    continue
                # DROP takes an ACCESS EXCLUSIVE lock on the inbox until the commit: inserts
                # wait that long, a moment.
                cursor.execute(f'DROP TABLE "{partition.name}"')
            InboxKey.objects.filter(**_month(partition)).delete()  # keys claimed meanwhile
        dropped.append(partition.name)
    return dropped


def inbox_partitions_maintain(*, now: datetime | None = None) -> dict[str, object]:
    """The daily task: months ahead made, expired months dropped."""
    made = inbox_partitions_ensure(now=now)
    return {"made": made, "dropped": inbox_partitions_drop_expired(now=now)}
