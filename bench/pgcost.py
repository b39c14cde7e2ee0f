"""Where PostgreSQL's work goes per event (issue 17): bench/soak.py --pg-cost.

At the start of the load: pg_stat_statements_reset() (the extension must be loaded by the server,
shared_preload_libraries, and created in the soak's database: create it in template1), and a
snapshot of pg_stat_wal, the database's pg_stat_database row, pg_stat_user_tables/indexes and the
CPU of the server's processes (the postmaster's own and its reaped children's, plus every live
child's, from /proc: needs the server on this machine, readable postmaster.pid). After the
backlog has drained: the same again, and the difference divided by the events sent.

It prints, per event: PostgreSQL's CPU, commits, WAL bytes and records, tuples written; the
statements by execution time (top level and, with pg_stat_statements.track = all, the ones run
inside functions and triggers, apart, since they are also inside their caller's time); and the
indexes on written tables that no statement read during the run (each costs on every insert).

Periodic work (beat, the floor, the insights refresh, queue polls) is counted with the events: it
is per second, not per event, so it weighs less per event at a higher rate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")

_DATABASE_COLUMNS = (
    "xact_commit",
    "xact_rollback",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "tup_returned",
    "tup_fetched",
    "blks_hit",
    "blks_read",
)


def _connect(database_url: str) -> Any:
    import psycopg

    return psycopg.connect(database_url, autocommit=True)


def _server_ticks(data_directory: str) -> int | None:
    """CPU ticks of a local PostgreSQL server: the postmaster's, its reaped children's, the live
    children's."""
    try:
        postmaster = int(Path(data_directory, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total


def snapshot(database_url: str) -> dict[str, Any]:
    with _connect(database_url) as conn:
        data_directory = conn.execute("SHOW data_directory").fetchone()[0]
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
        database = conn.execute(
            f"SELECT {', '.join(_DATABASE_COLUMNS)} FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
        tables = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, seq_scan,"
            " coalesce(idx_scan, 0) FROM pg_stat_user_tables"
        ).fetchall()
        indexes = conn.execute(
            "SELECT relname, indexrelname, idx_scan, pg_relation_size(indexrelid)"
            " FROM pg_stat_user_indexes"
        ).fetchall()
        statements = conn.execute(
            "SELECT queryid, toplevel, query, calls, total_exec_time, rows, wal_bytes,"
            " shared_blks_hit + shared_blks_read"
            " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())"
        ).fetchall()
    return {
        "ticks": _server_ticks(data_directory),
        "wal": dict(zip(("records", "fpi", "bytes"), (float(v) for v in wal), strict=True)),
        "database": dict(zip(_DATABASE_COLUMNS, (float(v) for v in database), strict=True)),
        "tables": {r[0]: r[1:] for r in tables},
        "indexes": {(r[0], r[1]): (r[2], r[3]) for r in indexes},
        "statements": statements,
    }


def start(database_url: str) -> dict[str, Any]:
    """Reset the statement statistics and take the first snapshot."""
    with _connect(database_url) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    return snapshot(database_url)


def report(before: dict[str, Any], after: dict[str, Any], *, events: int) -> dict[str, Any]:
    """Per-event figures between two snapshots."""
    n = max(events, 1)
    out: dict[str, Any] = {"events": events}
    if before["ticks"] is not None and after["ticks"] is not None:
        out["cpu_ms"] = (after["ticks"] - before["ticks"]) / CLK_TCK * 1000 / n
    out["wal"] = {k: (after["wal"][k] - before["wal"][k]) / n for k in after["wal"]}
    out["database"] = {
        k: (after["database"][k] - before["database"][k]) / n for k in after["database"]
    }
    rows = []
    for queryid, toplevel, query, calls, total, nrows, wal_bytes, blocks in after["statements"]:
        rows.append(
            {
                "queryid": queryid,
                "toplevel": toplevel,
                "query": " ".join(query.split()),
                "calls": calls / n,
                "ms": total / n,
                "rows_per_call": nrows / calls if calls else 0.0,
                "wal_bytes": float(wal_bytes) / n,
                "blocks": blocks / n,
            }
        )
    rows.sort(key=lambda r: -r["ms"])
    out["statements"] = rows
    out["statements_ms"] = sum(r["ms"] for r in rows if r["toplevel"])
    out["statements_calls"] = sum(r["calls"] for r in rows if r["toplevel"])
    tables = []
    for name, now in after["tables"].items():
        was = before["tables"].get(name, (0,) * len(now))
        d = [(a - b) / n for a, b in zip(now, was, strict=True)]
        if any(d[:4]):
            tables.append({"table": name, "ins": d[0], "upd": d[1], "hot_upd": d[2], "del": d[3]})
    tables.sort(key=lambda t: -(t["ins"] + t["upd"] + t["del"]))
    out["tables"] = tables
    written = {t["table"] for t in tables if t["ins"] or (t["upd"] - t["hot_upd"])}
    unread = []
    for (table, index), (scans, size) in after["indexes"].items():
        was = before["indexes"].get((table, index), (0, 0))[0]
        if table in written and scans - was == 0:
            unread.append({"table": table, "index": index, "bytes": size})
    out["unread_indexes"] = sorted(unread, key=lambda u: (u["table"], u["index"]))
    return out


def print_report(figures: dict[str, Any], *, top: int = 30) -> None:
    print(f"\nPostgreSQL per event ({figures['events']} events)")
    if "cpu_ms" in figures:
        print(f"  server CPU            {figures['cpu_ms']:.3f} ms")
    db = figures["database"]
    print(f"  commits               {db['xact_commit']:.2f}   rollbacks {db['xact_rollback']:.3f}")
    print(
        f"  tuples                ins {db['tup_inserted']:.2f}  upd {db['tup_updated']:.2f}"
        f"  del {db['tup_deleted']:.2f}  returned {db['tup_returned']:.0f}"
        f"  fetched {db['tup_fetched']:.1f}  blocks hit {db['blks_hit']:.0f}"
    )
    wal = figures["wal"]
    print(
        f"  WAL                   {wal['bytes']:.0f} bytes, {wal['records']:.1f} records,"
        f" {wal['fpi']:.2f} full pages"
    )
    print(
        f"  statements (top level) {figures['statements_calls']:.2f} calls,"
        f" {figures['statements_ms']:.3f} ms of execution"
    )
    print(f"\n  {'ms/ev':>7} {'calls/ev':>8} {'rows/call':>9} {'WAL B/ev':>8}  statement")
    for row in figures["statements"][:top]:
        mark = "" if row["toplevel"] else "(nested) "
        print(
            f"  {row['ms']:7.4f} {row['calls']:8.3f} {row['rows_per_call']:9.1f}"
            f" {row['wal_bytes']:8.0f}  {mark}{row['query'][:150]}"
        )
    print(f"\n  {'ins':>6} {'upd':>6} {'hot':>6} {'del':>6}  table (per event)")
    for t in figures["tables"][:15]:
        counts = f"{t['ins']:6.3f} {t['upd']:6.3f} {t['hot_upd']:6.3f} {t['del']:6.3f}"
        print(f"  {counts}  {t['table']}")
    print("\n  indexes on written tables not read during the run:")
    for u in figures["unread_indexes"]:
        print(f"    {u['table']}.{u['index']} ({u['bytes'] // 1024} KiB)")
