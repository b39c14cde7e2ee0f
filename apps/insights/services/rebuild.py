"""Rebuilding every fact and rollup from the stored inputs (``manage.py insights_rebuild``).

Set-based SQL only, in chunks of conversation ids so a progress bar can move and no
transaction grows huge: the facts of each chunk (suggestion scores, criteria, facts), then
every rollup of the period in one transaction that deletes and re-sums them (readers see the
old rollups until it commits) and ``ANALYZE``. The rebuild holds the insights lock exclusively
while it writes, so incremental refreshes wait for it (a chunk at a time) instead of
interleaving with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction

from .. import sql
from .facts import statement_params
from .suggestions import suggestions_score

Progress = Callable[[str, int, int], None]  # (stage, done, total)

CHUNK = 5000  # conversation ids per transaction
FACTS_FOR_RANGE = sql.FACTS_UNLOGGED.replace("{target}", sql.TARGET_RANGE)
CRITERIA_FOR_RANGE = sql.CRITERIA.replace("{target}", sql.TARGET_RANGE)


@dataclass(frozen=True)
class RebuildReport:
    conversations: int
    suggestions_scored: int
    rollup_rows: int
    seconds_facts: float
    seconds_rollups: float


def _lock_all_exclusive(cursor: object) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", sql.LOCK_ALL)  # type: ignore[attr-defined]


def _since_start(since: date | None) -> datetime:
    if since is None:
        return datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
    return datetime.combine(since, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def insights_rebuild(
    *, since: date | None = None, progress: Progress | None = None
) -> RebuildReport:
    """Recompute the facts of every conversation that started on or after ``since`` (all when
    None) and every rollup of those days."""
    import time as clock

    report = progress or (lambda stage, done, total: None)
    start = _since_start(since)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id), count(*) FROM conversations_conversation "
            "WHERE started_at >= %s",
            [start],
        )
        low, high, total = cursor.fetchone()
    began = clock.monotonic()
    scored = 0
    if total:
        done = 0
        report("facts", 0, total)
        for lo in range(low, high + 1, CHUNK):
            params = statement_params(lo=lo, hi=lo + CHUNK, since=start)
            with transaction.atomic(), connection.cursor() as cursor:
                _lock_all_exclusive(cursor)
                cursor.execute("SET LOCAL work_mem = '128MB'")
                scored += suggestions_score(target=sql.TARGET_RANGE, params=params)
                cursor.execute(CRITERIA_FOR_RANGE, params)
                # Thousands of conversations at once: hash and merge joins. The row estimates
                # of its CTEs are guesses, and a nested loop chosen on a guess of one row is
                # quadratic (10 s instead of 0.2 s for 2,000 conversations).
                cursor.execute("SET LOCAL enable_nestloop = off")
                cursor.execute(FACTS_FOR_RANGE, params)
                cursor.execute(
                    "SELECT count(*) FROM conversations_conversation "
                    "WHERE id >= %s AND id < %s AND started_at >= %s",
                    [lo, lo + CHUNK, start],
                )
                done += cursor.fetchone()[0]
            report("facts", done, total)
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
        for table in (*sql.ROLLUP_TABLES, "insights_conversationfact", "insights_criterionfact"):
            cursor.execute(f"ANALYZE {table}")
    return written
