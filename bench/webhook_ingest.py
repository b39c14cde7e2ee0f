"""Webhook ingest benchmark: acknowledged webhooks/s and latency, then processing per worker.

    python -m ccportal.devstack exec -- python bench/webhook_ingest.py [--server gunicorn]

Uses DATABASE_URL / REDIS_URL (on these machines: PostgreSQL and Redis on 127.0.0.1), in a
fresh database `<name>_bench`. Needs `wrk` (Debian: apt-get install wrk). Steps:

1. Pre-sign N unique Orchestrator COMMUNICATION_CREATED events (real demo utterances) with the
   twilio library's RequestValidator, as Twilio signs them (bodySHA256 in the URL).
2. Serve the portal in the production shape (gunicorn sync workers, persistent DB connections),
   or daphne / gunicorn+uvicorn for comparison, and fire the events with wrk: 32 connections,
   each request unique (idempotency token), no worker running, so this measures acknowledgement.
3. Count stored rows; then start one Celery worker process and time how fast it drains them;
   check sent = stored = processed.
Prints the figures; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench0123456789abcdef0123456789ab"
PORT = 8765
PATH = "/webhooks/twilio/orchestrator"


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


def server_command(kind: str, workers: int, threads: int) -> list[str]:
    py = sys.executable
    bind = f"127.0.0.1:{PORT}"
    if kind == "gunicorn":
        # The production configuration (ccportal/gunicorn.conf.py), sized from the command line.
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
        return [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(PORT), "ccportal.asgi:application"]
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="gunicorn", choices=["gunicorn", "daphne"])
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads per worker (1: sync)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rate", type=int, default=0, help="offered webhooks/s (0: as fast as answered)"
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=60000, help="unique pre-signed requests")
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--skip-processing", action="store_true")
    args = parser.parse_args()

    if subprocess.call(["which", "wrk"], stdout=subprocess.DEVNULL) != 0:
        raise SystemExit("wrk is needed: apt-get install wrk")
    database_url = bench_database_url()
    recreate_database(database_url)
    public_base = f"http://127.0.0.1:{PORT}"
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
    if args.server == "gunicorn":
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

    with tempfile.TemporaryDirectory() as tmp:
        requests_file = Path(tmp) / "requests.tsv"
        started = time.monotonic()
        make_requests(args.requests, public_base, requests_file)
        print(f"signed {args.requests} requests in {time.monotonic() - started:.1f} s")

        server = subprocess.Popen(
            server_command(args.server, args.workers, args.threads), env=env, cwd=ROOT
        )
        try:
            wait_up(f"{public_base}/healthz")
            out = subprocess.run(
                [
                    "wrk",
                    "-t2",
                    f"-c{args.connections}",
                    f"-d{args.seconds}s",
                    "--timeout",
                    "5s",
                    "-s",
                    str(ROOT / "bench" / "wrk_signed.lua"),
                    public_base + PATH,
                    "--",
                    str(requests_file),
                    "2",
                    # delay() adds to each answer time (about 5 ms here): pause a little less.
                    str(max(int(1000 * args.connections / args.rate) - 5, 0) if args.rate else 0),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:  # daphne may not stop while sockets linger
                server.kill()
                server.wait()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = re.search(r"LAT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) max=([\d.]+)", out)
    total = re.search(
        r"TOTAL requests=(\d+) errors_status=(\d+) errors_connect=(\d+) "
        r"errors_timeout=(\d+) errors_read=(\d+)",
        out,
    )
    completed, bad_status = int(total.group(1)), int(total.group(2))
    # wrk counts only requests whose answer arrived before the clock stopped; the ones in flight
    # then were sent (and stored) too, so count what the Lua script issued.
    sent = int(re.search(r"ISSUED (\d+)", out).group(1))
    stored = count(env, "SELECT count(*) FROM webhooks_inboundevent")
    print(
        f"server={args.server} workers={args.workers} threads={args.threads} "
        f"connections={args.connections} "
        f"duration={args.seconds}s"
    )
    print(
        f"acknowledged: {rps:.0f} webhooks/s; latency p50 {lat.group(1)} ms, p90 {lat.group(2)} ms,"
        f" p99 {lat.group(3)} ms, max {lat.group(4)} ms"
    )
    print(
        f"sent {sent} (answered before the end: {completed}), non-2xx {bad_status}, "
        "connect/timeout/read errors "
        f"{total.group(3)}/{total.group(4)}/{total.group(5)}, stored {stored}"
    )
    if sent > args.requests:
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
        while True:
            left = count(
                env,
                "SELECT count(*) FROM webhooks_inboundevent "
                "WHERE status IN ('pending','processing')",
            )
            if left == 0 or time.monotonic() - started > 600:
                break
            time.sleep(0.25)
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
    return 0 if sent - bad_status == stored == processed else 1


if __name__ == "__main__":
    raise SystemExit(main())
