"""Lookups by a Twilio id with 24 monthly partitions: the id alone against the key table first.

    flock /tmp/bench.lock .venv/bin/python bench/partition_lookups.py [--per-month 500]
    (or --fill-only without the lock, then --reuse under it)

In a fresh database `<name>_bench_lookups`: ``migrate``, the month partitions of the 24 months
up to this one (and the two ahead the migration makes), then ``--per-month`` conversations
created in each month, 20 lines and 4 operator results each (bulk_create, so the key
triggers fill the key tables), and ``ANALYZE``. Then, for random ids, interleaved, client-side
over Django's connection (each query planned anew, as the app's are), the lookups the ingest
and the results webhook make, as the code made them before (by the id alone) and now
(``partitions.key_months`` and the month):

- an existing line, locked for its update (``communication_apply``, COMMUNICATION_UPDATED);
- a new line (COMMUNICATION_CREATED: before, a probe of every month for nothing);
- an existing result (a redelivered intelligence webhook; ``operator_result_store``).

Prints median and p95 in ms, and the partitions each plan reads. docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_processing import recreate_database  # noqa: E402

MONTHS = 24


def months_back(today: date, n: int) -> list[date]:
    months = []
    year, month = today.year, today.month
    for _ in range(n):
        months.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return sorted(months)


def fill(per_month: int) -> tuple[list[str], list[str]]:
    from django.db import connection, transaction

    from apps.common import partitions
    from apps.conversations.models import Communication, Conversation
    from apps.intelligence.models import OperatorResult

    months = months_back(datetime.now(UTC).date(), MONTHS)
    for spec in partitions.TABLES:
        for month in months:
            partitions.month_partition_create(table=spec.table, month=month)
    lines, results = [], []
    for m, month in enumerate(months):
        with transaction.atomic():
            convs = Conversation.objects.bulk_create(
                Conversation(twilio_id=f"CH{m:02d}{i:06d}", name=f"bench {m}/{i}")
                for i in range(per_month)
            )
            created = datetime(month.year, month.month, 3, 12, tzinfo=UTC)
            Conversation.objects.filter(pk__in=[c.pk for c in convs]).update(created_at=created)
            for conv in convs:
                conv.created_at = created  # the partition key is read from the object
            batch = [
                Communication(
                    twilio_id=f"GX{conv.pk:08d}{n:03d}",
                    conversation=conv,
                    text=f"line {n} of {conv.twilio_id}",
                    occurred_at=created + timedelta(seconds=5 * n),
                    offset_ms=5000 * n,
                )
                for conv in convs
                for n in range(20)
            ]
            Communication.objects.bulk_create(batch, batch_size=5000)
            found = [
                OperatorResult(
                    result_id=f"LR{conv.pk:08d}{n:03d}",
                    conversation=conv,
                    operator_id="LY_bench",
                    output_format="TEXT",
                    result={"text": "a summary"},
                )
                for conv in convs
                for n in range(4)
            ]
            OperatorResult.objects.bulk_create(found, batch_size=5000)
        lines += [c.twilio_id for c in batch]
        results += [r.result_id for r in found]
        print(f"  {month:%Y-%m}: {len(convs)} conversations, {len(batch)} lines", flush=True)
    with connection.cursor() as cursor:
        for spec in partitions.TABLES:
            cursor.execute(f'ANALYZE "{spec.table}"')
            cursor.execute(f'ANALYZE "{spec.key_table}"')
    return lines, results


def timed(
    cases: dict[str, Callable[[str], object]], ids: dict[str, list[str]], n: int
) -> dict[str, list[float]]:
    from django.db import transaction

    times: dict[str, list[float]] = {name: [] for name in cases}
    rng = random.Random(3)
    for _ in range(n):
        for name, lookup in cases.items():
            value = rng.choice(ids[name.split(":")[0]])
            with transaction.atomic():  # the ingest's lookup runs in the batch's transaction
                started = time.perf_counter()
                lookup(value)
                times[name].append((time.perf_counter() - started) * 1000)
    return times


def plan_partitions(sql_of: Callable[[], None], table: str) -> int:
    """How many partitions of ``table`` the plan of the lookup's query reads."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        sql_of()
    count = 0
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            if f'FROM "{table}"' in query["sql"]:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plan = "\n".join(r[0] for r in cursor.fetchall() if "Bitmap Index Scan" not in r[0])
                count += len(set(re.findall(rf"\bon ({table}_\w+)", plan)))
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-month", type=int, default=500, help="conversations a month")
    parser.add_argument("--lookups", type=int, default=2000, help="of each kind")
    parser.add_argument("--reuse", action="store_true", help="keep the database as it is")
    parser.add_argument(
        "--fill-only", action="store_true", help="make the database, time nothing (no lock)"
    )
    args = parser.parse_args()
    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(path=f"{parts.path}_bench_lookups"))
    if not args.reuse:
        recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from apps.common import partitions
    from apps.conversations.models import Communication
    from apps.intelligence.models import OperatorResult
    from apps.intelligence.services.results import _result_by_id

    if not args.reuse:
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        lines, results = fill(args.per_month)
        print(f"filled in {time.monotonic() - started:.0f} s")
        if args.fill_only:
            return 0
    else:
        lines = list(Communication.objects.values_list("twilio_id", flat=True))
        results = list(OperatorResult.objects.values_list("result_id", flat=True))
    new = [f"GXnew{i:08d}" for i in range(args.lookups * 2)]
    count = len(partitions.month_partitions(partitions.COMMUNICATIONS.table))
    print(f"{len(lines):,} lines, {len(results):,} results; {count} month partitions + default")

    def line_before(twilio_id: str) -> object:
        return Communication.objects.select_for_update().filter(twilio_id=twilio_id).first()

    def line_now(twilio_id: str) -> object:
        month = partitions.key_months(partitions.COMMUNICATIONS, [twilio_id]).get(twilio_id)
        if month is None:
            return None
        return (
            Communication.objects.select_for_update()
            .filter(twilio_id=twilio_id, conversation_month=month)
            .first()
        )

    def result_before(result_id: str) -> object:
        return OperatorResult.objects.filter(result_id=result_id).first()

    cases: dict[str, Callable[[str], object]] = {
        "lines:existing line, before (id alone)": line_before,
        "lines:existing line, now (key table, then its month)": line_now,
        "new:new line, before (id alone)": line_before,
        "new:new line, now (key table only)": line_now,
        "results:existing result, before (id alone)": result_before,
        "results:existing result, now (key table, then its month)": _result_by_id,
    }
    ids = {"lines": lines, "new": new, "results": results}
    timed(cases, ids, 200)  # warm the caches
    times = timed(cases, ids, args.lookups)
    from django.db import transaction

    print()
    print("| lookup | median (ms) | p95 (ms) | partitions in the plan |")
    print("|---|---|---|---|")
    for name, values in times.items():
        values.sort()
        kind = name.split(":")[0]
        table = (
            partitions.OPERATOR_RESULTS.table
            if kind == "results"
            else partitions.COMMUNICATIONS.table
        )
        with transaction.atomic():
            read = plan_partitions(lambda n=name, k=kind: cases[n](ids[k][0]), table)
        print(
            f"| {name.split(':')[1]} | {statistics.median(values):.3f} "
            f"| {values[int(len(values) * 0.95)]:.3f} | {read} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
