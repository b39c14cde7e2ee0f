"""Webhook ingest benchmark: acknowledged webhooks/s and latency, then processing per worker.

    python -m ccportal.devstack exec -- python bench/webhook_ingest.py [--server granian]
        [--peer ../peer-server] [--rates 0,1500] [--rounds 2] [--port 8765]

Uses DATABASE_URL / REDIS_URL (on these machines: PostgreSQL and Redis on 127.0.0.1), in a
fresh database `<name>_bench`. Needs `wrk` (Debian: apt-get install wrk). Steps:

1. Pre-sign N unique Orchestrator COMMUNICATION_CREATED events (real demo utterances) with the
   twilio library's RequestValidator, as Twilio signs them (bodySHA256 in the URL).
2. Serve the portal in the production shape (granian, the lean webhook entry point in front of
   Django, group commit; see compose.yaml), or gunicorn / daphne for comparison, and fire the
   events with wrk: 32 connections, each request unique (idempotency token), no worker
   running, so this measures acknowledgement. Each load in ``--rates`` (0: saturating) is run
   ``--rounds`` times.
   With ``--peer DIR`` the public Twilio sample backend (../shared/peers; Node, in memory, no
   signature check, stores nothing) runs beside it and gets the same wrk runs with the same
   bodies, the path rewritten to /webhook/cor-event, alternating peer and ccportal.
3. Count stored rows per run (lost = answered 2xx but not stored); print one table; then start
   one Celery worker process and time how fast it drains them; check sent = stored = processed.
Prints the figures; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402

TOKEN = "bench0123456789abcdef0123456789ab"
PORT = 8765
PATH = "/webhooks/twilio/orchestrator"
PEER_PATH = "/webhook/cor-event"
PRODUCTION_SERVER = "granian"  # what compose.yaml's web service runs


def bench_database_url() -> str:
    url = os.environ["DATABASE_URL"]
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def utterances() -> list[str]:
    from apps.demo.dataset import read_calls

    texts = [s.text for call in read_calls() for s in call.segments if s.text]
    return texts


def make_requests(count: int, public_base: str, path: Path) -> None:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    texts = utterances()
    with path.open("w") as out:
        for i in range(count):
            conversation = f"conv_conversation_bench{i // 20:08d}"
            body = json.dumps(
                {
                    "eventType": "COMMUNICATION_CREATED",
                    "timestamp": "2026-11-23T10:00:00.000Z",
                    "data": {
                        "id": f"conv_communication_bench{i:010d}",
                        "conversationId": conversation,
                        "accountId": "AC00000000000000000000000000000000",
                        "author": {
                            "address": "+15551230000",
                            "channel": "VOICE",
                            "participantId": f"conv_participant_bench{i // 20:08d}c",
                        },
                        "recipients": [
                            {
                                "address": "+15559990000",
                                "channel": "VOICE",
                                "participantId": f"conv_participant_bench{i // 20:08d}a",
                            }
                        ],
                        "content": {
                            "type": "TRANSCRIPTION",
                            "text": texts[i % len(texts)],
                            "transcription": {
                                "channel": 0,
                                "confidence": 0.91,
                                "engine": "deepgram",
                            },
                        },
                        "channelId": f"CA{i // 20:032d}",
                        "occurredAt": f"2026-11-23T10:{(i % 20) // 60:02d}:{i % 20 * 3 % 60:02d}Z",
                        "createdAt": "2026-11-23T10:00:00Z",
                        "updatedAt": "2026-11-23T10:00:00Z",
                    },
                },
                separators=(",", ":"),
            )
            query = urlencode({"bodySHA256": validator.compute_hash(body)})
            signature = validator.compute_signature(f"{public_base}{PATH}?{query}", {})
            out.write(f"{signature}\t{PATH}?{query}\t{body}\n")


def server_command(kind: str, workers: int, threads: int, port: int) -> list[str]:
    py = sys.executable
    bind = f"127.0.0.1:{port}"
    if kind == "granian":
        # The production command (compose.yaml's web service), sized from the command line.
        return [
            py,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "ccportal.wsgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
            "--backpressure",
            str(max(threads, 1) * 4),
            "--no-ws",
            "--log-level",
            "warning",
        ]
    if kind == "gunicorn":
        # ccportal/gunicorn.conf.py (the pages and API configuration), sized from the command line.
        worker_class = (
            ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
        )
        return [
            py,
            "-m",
            "gunicorn",
            "ccportal.wsgi:application",
            "-c",
            "ccportal/gunicorn.conf.py",
            "-b",
            bind,
            "-w",
            str(workers),
            *worker_class,
            "--log-level",
            "warning",
        ]
    if kind == "daphne":
        return [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "ccportal.asgi:application"]
    raise SystemExit(f"unknown server {kind}")


def wait_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def count(env: dict[str, str], sql: str) -> int:
    import psycopg

    with psycopg.connect(env["BENCH_DSN"]) as conn:
        return conn.execute(sql).fetchone()[0]


@dataclass
class Run:
    system: str
    rate: int
    rps: float
    p50: float
    p90: float
    p99: float
    max: float
    sent: int
    answered: int
    non_2xx: int
    errors: str
    stored: int | None  # None: the peer stores nothing

    @property
    def lost(self) -> int | None:
        # Requests in flight when wrk's clock stopped were stored but not counted as answered,
        # so stored >= answered 2xx when nothing acknowledged was lost.
        if self.stored is None:
            return None
        return max(0, self.answered - self.non_2xx - self.stored)


def fire(
    url: str,
    requests_file: Path,
    *,
    connections: int,
    seconds: int,
    rate: int,
    prefix: str,
    path: str = "",
) -> dict[str, Any]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(ROOT / "bench" / "wrk_signed.lua"),
            url,
            "--",
            str(requests_file),
            "2",
            str(rate),
            prefix,
            path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lat = re.search(r"LAT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) max=([\d.]+)", out)
    total = re.search(
        r"TOTAL requests=(\d+) errors_status=(\d+) errors_connect=(\d+) "
        r"errors_timeout=(\d+) errors_read=(\d+)",
        out,
    )
    assert lat and total, out
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": float(lat.group(1)),
        "p90": float(lat.group(2)),
        "p99": float(lat.group(3)),
        "max": float(lat.group(4)),
        "answered": int(total.group(1)),
        "non_2xx": int(total.group(2)),
        "errors": f"{total.group(3)}/{total.group(4)}/{total.group(5)}",
        # wrk counts only requests whose answer arrived before the clock stopped; the ones in
        # flight then were sent (and stored) too, so count what the Lua script issued.
        "sent": int(re.search(r"ISSUED (\d+)", out).group(1)),  # type: ignore[union-attr]
    }


def start_peer(directory: Path, port: int) -> subprocess.Popen[bytes]:
    if not (directory / "node_modules").is_dir():
        raise SystemExit(f"{directory}: run `npm ci` there first (see ../shared/peers/README.md)")
    env = {**os.environ, "PORT": str(port), "TWILIO_FLEX_PHONE_NUMBER": "+15559990000"}
    # Its log (a "No SSE clients" line per event, on stderr) goes nowhere, as ccportal's does.
    return subprocess.Popen(
        ["node", "index.js"],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:  # daphne may not stop while sockets linger
        os.killpg(process.pid, signal.SIGKILL)  # started in a session of its own, workers too
        process.wait()


def print_table(runs: list[Run], connections: int, seconds: int) -> None:
    print(f"\nwrk -t2 -c{connections} -d{seconds}s, the same signed bodies for every system")
    print(
        "| system | load | acknowledged/s | p50 ms | p90 ms | p99 ms | max ms | sent | non-2xx "
        "| conn/timeout/read errors | stored | lost |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        load = f"offered {r.rate}/s" if r.rate else "saturating"
        stored = "-" if r.stored is None else str(r.stored)
        lost = "-" if r.lost is None else str(r.lost)
        print(
            f"| {r.system} | {load} | {r.rps:,.0f} | {r.p50:.1f} | {r.p90:.1f} | {r.p99:.1f} | "
            f"{r.max:.0f} | {r.sent} | {r.non_2xx} | {r.errors} | {stored} | {lost} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--server", default=PRODUCTION_SERVER, choices=["granian", "gunicorn", "daphne"]
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=16,
        help="threads per worker (granian: blocking threads; gunicorn: gthread, 1: sync)",
    )
    parser.add_argument("--port", type=int, default=PORT, help="ccportal's port; the peer's +1")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rate", type=int, default=None, help="one offered load, webhooks/s (0: saturating)"
    )
    parser.add_argument(
        "--rates", default="0", help="offered loads to run in turn, e.g. 0,1500 (0: saturating)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each load per system")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=60000, help="unique pre-signed requests")
    parser.add_argument(
        "--peer", type=Path, help="the peer's folder (a copy of ../shared/peers/..., npm ci done)"
    )
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--skip-processing", action="store_true")
    args = parser.parse_args()
    rates = [args.rate] if args.rate is not None else [int(r) for r in args.rates.split(",")]

    if subprocess.call(["which", "wrk"], stdout=subprocess.DEVNULL) != 0:
        raise SystemExit("wrk is needed: apt-get install wrk")
    database_url = bench_database_url()
    recreate_database(database_url)
    public_base = f"http://127.0.0.1:{args.port}"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "BENCH_DSN": database_url,
            "TWILIO_AUTH_TOKENS": TOKEN,
            "PUBLIC_BASE_URL": public_base,
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": env.get("SECRET_KEY", "bench"),
        }
    )
    if args.server in ("gunicorn", "granian"):
        env.update({"DB_POOL": "false", "DB_CONN_MAX_AGE": "600"})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import redis,os; "
            "redis.Redis.from_url(os.environ['REDIS_URL']).delete('ccportal:ingest:wake')",
        ],
        env=env,
        check=True,
    )
    # Drop tasks a previous run may have left in the broker queue.
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "ccportal", "purge", "-f", "-Q", "ingest"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    import psycopg

    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        requests_file = Path(tmp) / "requests.tsv"
        started = time.monotonic()
        make_requests(args.requests, public_base, requests_file)
        print(f"signed {args.requests} requests in {time.monotonic() - started:.1f} s")

        server = subprocess.Popen(
            server_command(args.server, args.workers, args.threads, args.port),
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        peer = start_peer(args.peer, args.port + 1) if args.peer else None
        ccportal = f"ccportal ({args.server} {args.workers}x{args.threads})"
        try:
            wait_up(f"{public_base}/healthz")
            if peer is not None:
                wait_up(f"http://127.0.0.1:{args.port + 1}/health")
            # A short warm-up of each, not counted (imports, connections, the JIT of the peer).
            fire(
                public_base + PATH,
                requests_file,
                connections=args.connections,
                seconds=2,
                rate=0,
                prefix="warm",
            )
            if peer is not None:
                fire(
                    f"http://127.0.0.1:{args.port + 1}{PEER_PATH}",
                    requests_file,
                    connections=args.connections,
                    seconds=2,
                    rate=0,
                    prefix="warm",
                    path=PEER_PATH,
                )
            time.sleep(1)
            with psycopg.connect(env["BENCH_DSN"], autocommit=True) as conn:
                conn.execute("DELETE FROM webhooks_inboundevent")  # the warm-up's rows
            for round_ in range(args.rounds):
                for rate in rates:
                    if peer is not None:
                        result = fire(
                            f"http://127.0.0.1:{args.port + 1}{PEER_PATH}",
                            requests_file,
                            connections=args.connections,
                            seconds=args.seconds,
                            rate=rate,
                            prefix=f"peer{round_}r{rate}",
                            path=PEER_PATH,
                        )
                        runs.append(
                            Run("peer (Node/Express, in memory)", rate, stored=None, **result)
                        )
                        print_table(runs[-1:], args.connections, args.seconds)
                    before = count(env, "SELECT count(*) FROM webhooks_inboundevent")
                    result = fire(
                        public_base + PATH,
                        requests_file,
                        connections=args.connections,
                        seconds=args.seconds,
                        rate=rate,
                        prefix=f"run{round_}r{rate}",
                    )
                    time.sleep(1)  # the requests in flight when wrk stopped finish storing
                    stored = count(env, "SELECT count(*) FROM webhooks_inboundevent") - before
                    runs.append(Run(ccportal, rate, stored=stored, **result))
                    print_table(runs[-1:], args.connections, args.seconds)
        finally:
            stop(server)
            if peer is not None:
                stop(peer)

    print_table(runs, args.connections, args.seconds)
    ours = [r for r in runs if r.stored is not None]
    sent = sum(r.sent for r in ours)
    bad_status = sum(r.non_2xx for r in ours)
    stored = count(env, "SELECT count(*) FROM webhooks_inboundevent")
    lost = sum(r.lost or 0 for r in ours)
    print(f"ccportal: sent {sent}, non-2xx {bad_status}, stored {stored}, lost {lost}")
    if max(r.sent for r in runs) > args.requests:
        print("WARNING: the request file wrapped around; raise --requests")

    if args.skip_processing:
        return 0
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ccportal",
            "worker",
            "-Q",
            "ingest",
            "-P",
            "prefork",
            f"--concurrency={args.worker_concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        time.sleep(2)  # worker start-up, not counted
        start_pending = count(
            env, "SELECT count(*) FROM webhooks_inboundevent WHERE status='pending'"
        )
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); "
                "from apps.webhooks.services import inbox_sweep; inbox_sweep()",
            ],
            env={**env, "DJANGO_SETTINGS_MODULE": "ccportal.settings"},
            cwd=ROOT,
            check=True,
        )
        timing.wait_until_processed(
            lambda sql: count(env, sql), limit=600 - (time.monotonic() - started), poll=0.25
        )
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    processed = count(env, "SELECT count(*) FROM webhooks_inboundevent WHERE status='processed'")
    communications = count(env, "SELECT count(*) FROM conversations_communication")
    print(
        f"processing: {start_pending} events in {elapsed:.1f} s = "
        f"{start_pending / elapsed:.0f} events/s "
        f"with {args.worker_concurrency} worker process(es); processed {processed}, "
        f"communications {communications}"
    )
    print(f"COUNTS sent={sent} stored={stored} processed={processed}")
    return 0 if lost == 0 and bad_status == 0 and processed == stored else 1


if __name__ == "__main__":
    raise SystemExit(main())
