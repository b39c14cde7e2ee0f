"""Rollups: sums of the facts per bucket (day x team x agent x queue x channel).

A bucket is never adjusted by a delta: it is deleted and summed again from its facts, so a
rerun gives the same numbers and a fact that changes days later (a review, a dispute) moves
exactly the buckets it left and entered. The refresh claims dirty-bucket rows with
``SKIP LOCKED``, takes one advisory lock per bucket in a fixed order (two workers rebuilding
the same bucket take turns, and the second sees the first's rows) and rebuilds the three
rollup tables for those buckets in one transaction.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db import connection, transaction

from apps.common.db import asynchronous_commit_local

from .. import sql
from .facts import lock_all_shared, statement_params

Bucket = tuple[date, int | None, int | None, str, str]

# Dirty-bucket rows one refresh claims at most (their distinct buckets are locked together).
ROLLUP_BATCH = 500


def _lock_key(bucket: Bucket) -> int:
    day, team, agent, queue, channel = bucket
    text = f"{day.isoformat()}|{team}|{agent}|{queue}|{channel}"
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def _key_params(buckets: list[Bucket]) -> dict[str, Any]:
    return {
        "days": [b[0] for b in buckets],
        "teams": [b[1] for b in buckets],
        "agents": [b[2] for b in buckets],
        "queues": [b[3] for b in buckets],
        "channels": [b[4] for b in buckets],
        "agentless": any(b[2] is None for b in buckets),
    }


def rollups_rebuild_buckets(buckets: Iterable[Bucket]) -> int:
    """Delete and re-sum these buckets from the facts, in the caller's transaction."""
    wanted = sorted(set(buckets), key=lambda b: (b[0], b[1] or 0, b[2] or 0, b[3], b[4]))
    if not wanted:
        return 0
    params = statement_params(**_key_params(wanted))
    with connection.cursor() as cursor:
        lock_all_shared(cursor)
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::int[]) k",
            [sql.LOCK_BUCKET, sorted({_lock_key(b) for b in wanted})],
        )
        for table in sql.ROLLUP_TABLES:
            cursor.execute(sql.ROLLUP_DELETE_KEYS.replace("{table}", table), params)
        for statement in (
            sql.ROLLUP_INSERT,
            sql.CRITERION_ROLLUP_INSERT,
            sql.LABEL_ROLLUP_INSERT,
        ):
            cursor.execute(
                statement.replace("{join}", sql.KEYS_JOIN).replace("{where}", sql.KEYS_WHERE),
                params,
            )
    return len(wanted)


@transaction.atomic
def rollups_refresh_dirty(*, limit: int = ROLLUP_BATCH) -> int:
    """Claim up to ``limit`` dirty-bucket rows and rebuild their buckets; returns how many
    distinct buckets were rebuilt (0: nothing was dirty)."""
    asynchronous_commit_local()  # the claimed rows come back if this commit is lost
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM insights_dirtybucket WHERE id IN ("
            " SELECT id FROM insights_dirtybucket ORDER BY id LIMIT %s"
            " FOR UPDATE SKIP LOCKED) RETURNING day, team_id, agent_id, queue, channel",
            [limit],
        )
        buckets = {tuple(row) for row in cursor.fetchall()}
    return rollups_rebuild_buckets(buckets)  # type: ignore[arg-type]
