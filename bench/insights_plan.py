"""Insights refresh, per statement: planning and execution time and buffers, from
``EXPLAIN (ANALYZE, BUFFERS)`` of the statements a refresh really runs.

    python bench/insights_plan.py [--batch 1 --batch 30] [--sets 5] [--past-months 0]

Uses the database of ``bench/insights.py`` (``<name>_bench_insights``; make it first, e.g.
``bench/insights.py --conversations 20000 --skip events,pages``). For each batch size it picks
``--sets`` sets of conversations with next-best-response results (a fixed seed), runs the
refresh of each set as the worker does (``facts_refresh``, then the rollups of the buckets of
those facts: ``rollups_rebuild_buckets``) in a transaction rolled back, records every statement
it sent (by ``execute_wrapper``, advisory locks and SETs left out), and then explains them
(which runs them) in the same order in one transaction rolled back, twice: the first run warms
the caches, the second is reported.

``--past-months N`` first adds N empty month partitions before the oldest to the partitioned
tables (communications, operator results), as a database in use for N months more would have:
planning grows with the partitions a statement may read. They stay in the bench database.

Prints, per statement kind and batch size, the medians over the sets of planning ms, execution
ms and shared buffers (hit + read, planning's included), and their sum per conversation.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402

SKIP = re.compile(r"pg_advisory|^\s*SET\b", re.IGNORECASE)


def kind_of(statement: str) -> str:
    text = " ".join(statement.split())
    if "INSERT INTO insights_conversationfact" in text:
        return "facts"
    if "nbr AS" in text:
        return "suggestion pairs"
    if re.match(r"(INSERT INTO|DELETE FROM) insights_\w*rollup", text):
        return "rollups: " + text.split()[0].lower()
    if "insights_suggestionscore" in text:
        return "suggestion scores: " + text.split()[0].lower()
    if "conversations_conversation" in text and "date_trunc" in text:
        return "conversation months"
    return "other: " + text[:60]


def add_past_months(months: int) -> None:
    from apps.common.partitions import TABLES, month_partition_create, month_partitions

    for spec in TABLES:
        oldest = month_partitions(spec.table)[0].start
        for back in range(1, months + 1):
            year, month = divmod(oldest.year * 12 + oldest.month - 1 - back, 12)
            month_partition_create(table=spec.table, month=date(year, month + 1, 1))


def recorded_refresh(ids: list[int]) -> list[tuple[str, Any]]:
    """The statements a refresh of ``ids`` sends (its facts, then its buckets' rollups)."""
    from django.db import connection, transaction

    from apps.insights.services.facts import facts_refresh
    from apps.insights.services.rollups import rollups_rebuild_buckets

    sent: list[tuple[str, Any]] = []

    def record(execute, sql, params, many, context):
        if not SKIP.search(sql):
            sent.append((sql, params))
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(record):
            facts_refresh(ids)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT day, team_id, agent_id, queue, channel"
                " FROM insights_conversationfact WHERE conversation_id = ANY(%s)",
                [ids],
            )
            buckets = [tuple(row) for row in cursor.fetchall()]
        with connection.execute_wrapper(record):
            rollups_rebuild_buckets(buckets)  # type: ignore[arg-type]
        transaction.set_rollback(True)
    return sent


def explain(sql: str, params: Any) -> tuple[float, float, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        (doc,) = cursor.fetchone()
    doc = doc if isinstance(doc, list) else json.loads(doc)
    top = doc[0]
    plan = top["Plan"]
    planning = top.get("Planning", {})
    buffers = (
        plan.get("Shared Hit Blocks", 0)
        + plan.get("Shared Read Blocks", 0)
        + planning.get("Shared Hit Blocks", 0)
        + planning.get("Shared Read Blocks", 0)
    )
    return top["Planning Time"], top["Execution Time"], buffers


def explained(sent: list[tuple[str, Any]]) -> list[tuple[str, float, float, int]]:
    """Explain (and so run) the statements in order, in one transaction rolled back."""
    from django.db import transaction

    with transaction.atomic():
        out = [(kind_of(sql), *explain(sql, params)) for sql, params in sent]
        transaction.set_rollback(True)
    return out


def sample(batch: int, sets: int, rng: random.Random) -> list[list[int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT conversation_id FROM intelligence_operatorresult"
            " WHERE operator_name = 'Next Best Response' ORDER BY 1"
        )
        pool = [row[0] for row in cursor.fetchall()]
    return [sorted(rng.sample(pool, batch)) for _ in range(sets)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--sets", type=int, default=5)
    parser.add_argument("--past-months", type=int, default=0)
    args = parser.parse_args()
    timing.bench_django("insights", reuse=True)
    from django.db import connection

    if args.past_months:
        add_past_months(args.past_months)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = "
            "'conversations_communication'::regclass"
        )
        print("communications partitions (default included):", cursor.fetchone()[0])
    rng = random.Random(17)
    for batch in args.batch or [1, 30]:
        figures: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        for ids in sample(batch, args.sets, rng):
            per_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
            sent = recorded_refresh(ids)
            explained(sent)  # warm
            for kind, plan_ms, exec_ms, buffers in explained(sent):
                total = per_kind[kind]
                total[0] += plan_ms
                total[1] += exec_ms
                total[2] += buffers
            for kind, (plan_ms, exec_ms, buffers) in per_kind.items():
                figures[kind].append((plan_ms, exec_ms, int(buffers)))
        print(f"\nbatch of {batch} conversations, medians over {args.sets} sets")
        print(f"{'statement':32} {'plan ms':>9} {'exec ms':>9} {'buffers':>9}")
        sums = [0.0, 0.0, 0.0]
        for kind in sorted(figures):
            rows = figures[kind]
            values = [statistics.median(col) for col in zip(*rows, strict=True)]
            if len(rows) < args.sets:
                kind += f" ({len(rows)} of {args.sets} sets)"
            print(f"{kind:32} {values[0]:9.2f} {values[1]:9.2f} {values[2]:9.0f}")
            for i in range(3):
                sums[i] += values[i] * len(rows) / args.sets
        print(f"{'all':32} {sums[0]:9.2f} {sums[1]:9.2f} {sums[2]:9.0f}")
        print(
            f"{'per conversation':32} {sums[0] / batch:9.3f} {sums[1] / batch:9.3f}"
            f" {sums[2] / batch:9.1f}"
        )


if __name__ == "__main__":
    main()
