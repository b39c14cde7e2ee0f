"""Rebuilding every fact and rollup from the stored inputs (``manage.py insights_rebuild``).

Set-based SQL only, in chunks of conversation ids so a progress bar can move and no
transaction grows huge: the facts of each chunk (suggestion scores, then the facts), then
every rollup of the period in one transaction that deletes and re-sums them (readers see the
old rollups until it commits) and ``ANALYZE``.

The chunks run on ``INSIGHTS_REBUILD_WORKERS`` connections at once (threads that mostly wait
for the server, so the database's cores do the work). The rebuild holds the insights lock
exclusively while it writes, so incremental refreshes wait for it instead of interleaving with
it: for the whole facts stage (a session lock on the coordinating connection) when the chunks
run on other connections, a chunk at a time when the caller's transaction is the only
connection that can see its data.
"""

from __future__ import annotations

import math
import time as clock
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction

from .. import sql
from .facts import statement_params
from .suggestions import suggestions_score

Progress = Callable[[str, int, int], None]  # (stage, done, total)

MAX_CHUNK = 50_000  # conversation ids per transaction at most
MIN_CHUNK = 2_000
_BIGINT_MAX = 2**63 - 1
CHUNKS_PER_WORKER = 4  # so the workers finish together and the bar moves
FACTS_FOR_RANGE = sql.targeted(sql.FACTS_UNLOGGED, sql.TARGET_RANGE)


@dataclass(frozen=True)
class RebuildReport:
    conversations: int
    suggestions_scored: int
    rollup_rows: int
    seconds_facts: float
    seconds_rollups: float
    workers: int = 1


def _lock_all_exclusive(cursor: Any) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", sql.LOCK_ALL)


@contextmanager
def _everything_locked() -> Iterator[None]:
    """Hold the insights lock exclusively on this connection, outside any transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", sql.LOCK_ALL)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", sql.LOCK_ALL)


def _since_start(since: date | None) -> datetime:
    if since is None:
        return datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
    return datetime.combine(since, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _chunk_facts(lo: int, hi: int, start: datetime, *, lock: bool) -> tuple[int, int]:
    """Score the suggestions and write the facts of conversations ``lo <= id < hi`` started
    since ``start``, in one transaction; returns (conversations, suggestions scored)."""
    params = statement_params(lo=lo, hi=hi, since=start)
    with transaction.atomic(), connection.cursor() as cursor:
        if lock:
            _lock_all_exclusive(cursor)
        cursor.execute("SET LOCAL work_mem = '128MB'")
        scored = suggestions_score(target=sql.TARGET_RANGE, params=params)
        # Thousands of conversations at once: hash and merge joins. The row estimates of its
        # CTEs are guesses, and a nested loop chosen on a guess of one row is quadratic (10 s
        # instead of 0.2 s for 2,000 conversations).
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(FACTS_FOR_RANGE, params)
        cursor.execute(
            "SELECT count(*) FROM conversations_conversation "
            "WHERE id >= %s AND id < %s AND started_at >= %s",
            [lo, hi, start],
        )
        return cursor.fetchone()[0], scored


def _id_ranges(start: datetime, size: int) -> list[tuple[int, int]]:
    """Id ranges of ``size`` conversations each (ids have gaps: deleted rows, other tests)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n"
            " FROM conversations_conversation WHERE started_at >= %s) x"
            " WHERE (n - 1) %% %s = 0 ORDER BY id",
            [start, size],
        )
        bounds = [row[0] for row in cursor.fetchall()]
    return list(zip(bounds, [*bounds[1:], _BIGINT_MAX], strict=True))


def _chunk_on_own_connection(lo: int, hi: int, start: datetime) -> tuple[int, int]:
    try:
        return _chunk_facts(lo, hi, start, lock=False)
    finally:
        connection.close()  # this thread's connection: the pool's threads outlive the rebuild


def insights_rebuild(
    *, since: date | None = None, progress: Progress | None = None, workers: int | None = None
) -> RebuildReport:
    """Recompute the facts of every conversation that started on or after ``since`` (all when
    None) and every rollup of those days."""
    report = progress or (lambda stage, done, total: None)
    start = _since_start(since)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM conversations_conversation WHERE started_at >= %s", [start]
        )
        total = cursor.fetchone()[0]
    # Other connections cannot see what the caller's open transaction wrote.
    workers = 1 if connection.in_atomic_block else (workers or settings.INSIGHTS_REBUILD_WORKERS)
    began = clock.monotonic()
    scored = done = 0
    if total:
        size = max(MIN_CHUNK, min(MAX_CHUNK, math.ceil(total / (workers * CHUNKS_PER_WORKER))))
        ranges = _id_ranges(start, size)
        report("facts", 0, total)
        if workers == 1:
            for lo, hi in ranges:
                conversations, n = _chunk_facts(lo, hi, start, lock=True)
                done, scored = done + conversations, scored + n
                report("facts", done, total)
        else:
            with _everything_locked(), ThreadPoolExecutor(workers) as pool:
                futures = [
                    pool.submit(_chunk_on_own_connection, lo, hi, start) for lo, hi in ranges
                ]
                try:
                    for future in as_completed(futures):
                        conversations, n = future.result()
                        done, scored = done + conversations, scored + n
                        report("facts", done, total)
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
    facts_seconds = clock.monotonic() - began
    began = clock.monotonic()
    report("rollups", 0, 1)
    rows = rollups_rebuild_period(since=since)
    report("rollups", 1, 1)
    return RebuildReport(
        conversations=total or 0,
        suggestions_scored=scored,
        rollup_rows=rows,
        seconds_facts=round(facts_seconds, 2),
        seconds_rollups=round(clock.monotonic() - began, 2),
        workers=workers,
    )


def rollups_rebuild_period(*, since: date | None = None) -> int:
    """Delete and re-sum every rollup from ``since`` (all when None); returns the rows written."""
    where = "f.day >= %(since_day)s" if since else "true"
    params = statement_params(since_day=since)
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_all_exclusive(cursor)
        cursor.execute("SET LOCAL work_mem = '256MB'")
        for table in sql.ROLLUP_TABLES:
            if since:
                cursor.execute(f"DELETE FROM {table} WHERE day >= %s", [since])
            else:
                cursor.execute(f"DELETE FROM {table}")
        cursor.execute(
            "DELETE FROM insights_dirtybucket" + (" WHERE day >= %s" if since else ""),
            [since] if since else [],
        )
        for statement in (
            sql.ROLLUP_INSERT,
            sql.CRITERION_ROLLUP_INSERT,
            sql.LABEL_ROLLUP_INSERT,
        ):
            cursor.execute(statement.replace("{join}", "").replace("{where}", where), params)
            written += cursor.rowcount
    with connection.cursor() as cursor:
        for table in (*sql.ROLLUP_TABLES, "insights_conversationfact"):
            cursor.execute(f"ANALYZE {table}")
    return written
