"""What partitioning communications and operator results by month costs to migrate.

    python bench/partition_migration.py [--conversations 73500] [--before /work/main]

In a fresh database `<name>_bench_partition`: ``migrate`` and ``generate_conversations`` run
from the checkout before the change (``--before``; about 13.6 lines and 7 results per
conversation, so the default gives about a million communications), the conversations' creation
dates are spread over three months (so the copy makes three partitions, as a database some
months old has), then this checkout's ``migrate`` runs each new migration on its own and is
timed: conversations 0007 (communications) and intelligence 0008 (operator results) copy the
rows under an ACCESS EXCLUSIVE lock. Prints rows and seconds; docs/scaling.md records them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_processing import count, recreate_database  # noqa: E402

TIMELINE = (
    "SELECT m.*, a.* FROM conversations_communication m"
    " LEFT JOIN conversations_participant a ON a.id = m.author_id"
    " WHERE m.conversation_id = %s{month} ORDER BY m.occurred_at, m.offset_ms, m.id"
)


def transcript_reads(url: str, *, with_month: bool, n: int = 500) -> str:
    """Median and p95 of reading ``n`` conversations' transcripts (the SQL of
    ``selectors.communication_timeline``), in ms, client-side, one connection."""
    import random
    import statistics

    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date"
            " FROM conversations_conversation"
        ).fetchall()
        picked = random.Random(1).sample(rows, min(n, len(rows)))
        sql = TIMELINE.format(month=" AND m.conversation_month = %s" if with_month else "")
        times = []
        for pk, month in picked:
            started = time.perf_counter()
            conn.execute(sql, [pk, month] if with_month else [pk]).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return (
        f"median {statistics.median(times):.2f} ms,"
        f" p95 {times[int(len(times) * 0.95)]:.2f} ms over {len(times)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=73_500)
    parser.add_argument("--before", type=Path, default=Path("/work/main"))
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database a failed run generated"
    )
    args = parser.parse_args()
    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(path=f"{parts.path}_bench_partition"))
    if not args.reuse:
        recreate_database(url)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "false", "LOG_LEVEL": "WARNING"}

    def manage(code: Path, *command: str) -> float:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", *command],
            env={**env, "PYTHONPATH": str(code)},
            cwd=code,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.monotonic() - started

    before = args.before.resolve()
    generated = 0.0
    if not args.reuse:
        manage(before, "migrate", "-v0")
        generated = manage(
            before, "generate_conversations", "--conversations", str(args.conversations),
            "--no-rebuild",
        )  # fmt: skip
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE conversations_conversation"
            " SET created_at = created_at - (id % 3) * interval '35 days'"
        )
        conn.execute("VACUUM ANALYZE")
    lines = count(url, "SELECT count(*) FROM conversations_communication")
    results = count(url, "SELECT count(*) FROM intelligence_operatorresult")
    print(f"generated {lines:,} communications, {results:,} results in {generated:.1f} s")
    print(f"transcript read before: {transcript_reads(url, with_month=False)}")
    for app, name in (
        ("intelligence", "0007"),
        ("coaching", "0003"),
        ("insights", "0005"),
        ("knowledge", "0004"),
        ("conversations", "0007"),
        ("intelligence", "0008"),
    ):
        seconds = manage(ROOT, "migrate", app, name, "-v0")
        print(f"migrate {app} {name}: {seconds:.1f} s")
    partitions = count(
        url,
        "SELECT count(*) FROM pg_inherits"
        " WHERE inhparent = 'conversations_communication'::regclass",
    )
    assert count(url, "SELECT count(*) FROM conversations_communication") == lines
    assert count(url, "SELECT count(*) FROM intelligence_operatorresult") == results
    assert count(url, "SELECT count(*) FROM conversations_communicationkey") == lines
    print(f"transcript read after, by conversation: {transcript_reads(url, with_month=False)}")
    print(f"transcript read after, with its month: {transcript_reads(url, with_month=True)}")
    print(f"rows kept: {lines:,} communications in {partitions} partitions, {results:,} results")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
