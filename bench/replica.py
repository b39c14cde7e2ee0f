"""A real streaming replica: replication lag, and a dashboard read routed to it.

    source /tmp/envN.sh   # DATABASE_URL names a migrated database: its schema is copied
    PYTHONPATH=$PWD python bench/replica.py [--port 8461] [--commits 300] [--burst 100000]

1. Makes a primary (``initdb``, PostgreSQL 15's binaries) in a temporary folder on ``--port``,
   loads the schema of DATABASE_URL's database into it (``pg_dump --schema-only``), and makes a
   streaming replica of it with ``pg_basebackup -R`` on ``--port + 1``. Both run as the
   ``postgres`` user when started as root (initdb refuses root), and are stopped at the end.
2. **Lag, one commit at a time:** commits single rows on the primary (autocommit) and polls the
   replica until each is visible: p50 / p95 / max.
3. **Lag under a write burst:** inserts ``--burst`` access-log rows of ~1 KB in one statement,
   then measures how long the replica takes to show them, and what
   ``apps.common.replica.replica_lag_seconds`` reports meanwhile.
4. **A dashboard read:** Django configured with DATABASE_URL = the primary and
   DATABASE_REPLICA_URL = the replica; the transcript access log page (a ``@replica_reads`` view)
   is rendered for an admin: where it read from (``pg_is_in_recovery()`` of the connection it
   used), its server time from the replica and, with the pin cookie, from the primary.

Prints the figures (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(__file__).resolve().parent.parent


def as_postgres(args: list[str], **kwargs):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, **kwargs)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8461)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--burst", type=int, default=100_000)
    args = parser.parse_args()
    source_url = os.environ["DATABASE_URL"]
    primary_port, replica_port = args.port, args.port + 1
    work = Path(tempfile.mkdtemp(prefix="ccportal-replica-"))
    shutil.chown(work, "postgres", "postgres") if os.geteuid() == 0 else None
    primary, replica = work / "primary", work / "replica"
    started: list[Path] = []
    try:
        as_postgres([str(BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--no-sync"], stdout=subprocess.DEVNULL)  # fmt: skip
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {primary_port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{work}'\nwal_level = replica\n"
                "hot_standby_feedback = on\n"
            )
        as_postgres([str(BIN / "pg_ctl"), "-D", str(primary), "-l", str(work / "primary.log"),
                     "-w", "start"], stdout=subprocess.DEVNULL)  # fmt: skip
        started.append(primary)
        primary_url = f"postgres://postgres@127.0.0.1:{primary_port}/ccportal"
        replica_url = f"postgres://postgres@127.0.0.1:{replica_port}/ccportal"
        subprocess.run([str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(primary_port),
                        "-U", "postgres", "ccportal"], check=True)  # fmt: skip
        t0 = time.perf_counter()
        dump = subprocess.run([str(BIN / "pg_dump"), "--schema-only", "--no-owner", source_url],
                              check=True, capture_output=True)  # fmt: skip
        subprocess.run([str(BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", primary_url],
                       input=dump.stdout, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        print(
            f"schema of {urlsplit(source_url).path[1:]} loaded in {time.perf_counter() - t0:.1f} s"
        )

        t0 = time.perf_counter()
        as_postgres([str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port),
                     "-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "--no-sync",
                     "--checkpoint=fast"])  # fmt: skip
        with open(replica / "postgresql.auto.conf", "a") as conf:
            conf.write(f"port = {replica_port}\n")
        as_postgres([str(BIN / "pg_ctl"), "-D", str(replica), "-l", str(work / "replica.log"),
                     "-w", "start"], stdout=subprocess.DEVNULL)  # fmt: skip
        started.append(replica)
        print(f"streaming replica up in {time.perf_counter() - t0:.1f} s (port {replica_port})")

        os.environ["DATABASE_URL"] = primary_url
        os.environ["DATABASE_REPLICA_URL"] = replica_url
        os.environ["DB_POOL"] = "false"
        os.environ["ALLOWED_HOSTS"] = "testserver"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        measure(args)
    finally:
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        for folder in reversed(started):
            as_postgres([str(BIN / "pg_ctl"), "-D", str(folder), "-m", "fast", "-w", "stop"],
                        stdout=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace) -> None:
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from apps.accounts.choices import Role
    from apps.accounts.models import User
    from apps.common import replica
    from apps.common.replica import PIN_COOKIE

    primary, standby = connections["default"], connections["replica"]
    with standby.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0], "the replica is not a standby"

    # 2. One commit at a time.
    lags = []
    with primary.cursor() as write, standby.cursor() as read:
        write.execute("CREATE TABLE bench_lag (n int PRIMARY KEY)")
        while True:  # the table itself must arrive first
            read.execute("SELECT to_regclass('bench_lag') IS NOT NULL")
            if read.fetchone()[0]:
                break
        for n in range(args.commits):
            write.execute("INSERT INTO bench_lag VALUES (%s)", [n])
            t0 = time.perf_counter()
            while True:
                read.execute("SELECT 1 FROM bench_lag WHERE n = %s", [n])
                if read.fetchone():
                    break
            lags.append((time.perf_counter() - t0) * 1000)
    print(
        f"lag, one commit at a time ({args.commits}): p50 {statistics.median(lags):.2f} ms, "
        f"p95 {pct(lags, 0.95):.2f} ms, max {max(lags):.2f} ms"
    )

    # 3. A burst.
    with primary.cursor() as write, standby.cursor() as read:
        t0 = time.perf_counter()
        write.execute(
            "INSERT INTO conversations_transcriptaccess (username, conversation_twilio_id,"
            " channel, reason, sensitive, path, created_at) SELECT 'burst', 'CH' || n, 'PAGE',"
            " repeat('r', 1000), false, '/x', now() FROM generate_series(1, %s) n",
            [args.burst],
        )
        wrote = time.perf_counter() - t0
        reported = []
        while True:
            read.execute("SELECT count(*) FROM conversations_transcriptaccess")
            if read.fetchone()[0] >= args.burst:
                break
            reported.append(replica.replica_lag_seconds())
            time.sleep(0.01)
        seen = time.perf_counter() - t0
    print(
        f"burst of {args.burst} rows (~1 KB): written in {wrote:.2f} s, on the replica after "
        f"{seen:.2f} s; replica_lag_seconds() meanwhile: max {max(reported, default=0):.3f} s"
    )

    # 4. A dashboard read.
    admin = User.objects.create_user(username="bench-admin", password="x", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    page = "/admin-tools/access-log/"
    assert client.get(page).status_code == 200  # warm: imports, templates

    with primary.cursor() as write:
        write.execute(
            "INSERT INTO conversations_transcriptaccess (username, conversation_twilio_id,"
            " channel, reason, sensitive, path, created_at)"
            " VALUES ('fresh-row', 'CH0', 'PAGE', '', false, '/x', %s)",
            [timezone.now()],
        )
    t0 = time.perf_counter()
    reads = 0
    while b"fresh-row" not in client.get(page).content:
        reads += 1
    waited = 1000 * (time.perf_counter() - t0)
    print(
        f"a row committed on the primary shown by the page after {waited:.1f} ms ({reads} misses)"
    )
    for label, cookies in (("replica", {}), ("primary (pinned)", {PIN_COOKIE: "1"})):
        client.cookies.pop(PIN_COOKIE, None)
        for name, value in cookies.items():
            client.cookies[name] = value
        times = []
        with CaptureQueriesContext(standby) as on_standby:
            for _ in range(20):
                t0 = time.perf_counter()
                response = client.get(page)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200
        print(
            f"access-log page, {label}: p50 {statistics.median(times):.1f} ms over 20 GETs; "
            f"queries sent to the standby: {len(on_standby)}"
        )


if __name__ == "__main__":
    main()
