"""Where one webhook acknowledgement spends its time, in-process (no HTTP server, no wrk).

    python -m ccportal.devstack exec -- python bench/ack_profile.py [--requests 3000]

Calls the WSGI application directly with pre-signed COMMUNICATION_CREATED requests (the bodies
of bench/webhook_ingest.py), one at a time, in a fresh database `<name>_ackprofile`, three ways:

- ``django``: Django's handler with the whole middleware stack and the view (the old path);
- ``lean``: the lean entry point (apps/webhooks/entry.py) with a one-row INSERT per request;
- ``lean+group``: the lean entry point with the group committer (the production path).

For each it prints CPU ms per request (this process, all threads) and wall ms (one request at a
time, so every request waits for its own commit), the client CPU of a 16-row batch's parameters
sent as text array literals or in binary, then a cProfile of the Django path's acknowledgement
grouped by part (middleware, signature, JSON, INSERT, wake-up).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook_ingest import TOKEN, bench_database_url, make_requests, recreate_database  # noqa: E402

BASE = "http://127.0.0.1:8765"


def batch_parameters(url: str, bodies: list[str]) -> None:
    """Client CPU of one 16-row batch's text arrays: as array literals (%s, every quote and
    backslash escaped in Python) or in binary (%b, what the group committer sends)."""
    import psycopg

    keys = [f"token:{i}" for i in range(len(bodies))]
    sizes = [len(body) for body in bodies]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE batch (key text, body text, size int)")
        for mark in ("%s", "%b"):
            query = (
                f"INSERT INTO batch SELECT * FROM unnest({mark}::text[], {mark}::text[], %s::int[])"
            )
            cursor = psycopg.Cursor(conn)
            for _ in range(20):
                cursor.execute(query, [keys, bodies, sizes], prepare=True)
            started = time.process_time()
            for _ in range(300):
                cursor.execute(query, [keys, bodies, sizes], prepare=True)
            used = (time.process_time() - started) / 300
            print(
                f"batch of {len(bodies)} rows, text arrays as {mark}: "
                f"{used * 1e6:.0f} us client CPU per batch"
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="per way")
    args = parser.parse_args()
    url = bench_database_url().replace("_bench", "_ackprofile")
    recreate_database(url)
    os.environ.update(
        DATABASE_URL=url,
        TWILIO_AUTH_TOKENS=TOKEN,
        PUBLIC_BASE_URL=BASE,
        DJANGO_DEBUG="false",
        LOG_LEVEL="WARNING",
        DB_POOL="false",
        DB_CONN_MAX_AGE="600",
        DJANGO_SETTINGS_MODULE="ccportal.settings",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.tsv"
        make_requests(args.requests * 4, BASE, path)
        lines = [line.rstrip("\n").split("\t") for line in path.open()]

    import django

    django.setup()
    from apps.webhooks.entry import LeanWebhooks, store_on_this_thread
    from apps.webhooks.groupcommit import GroupCommitter
    from ccportal.wsgi import django_application

    def environ(i: int) -> dict[str, Any]:
        signature, full_path, body = lines[i]
        raw = body.encode()
        path_info, _, query = full_path.partition("?")
        return {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8765",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8765",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(raw)),
            "HTTP_X_TWILIO_SIGNATURE": signature,
            "HTTP_I_TWILIO_IDEMPOTENCY_TOKEN": f"profile-{i}",
            "wsgi.input": io.BytesIO(raw),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }

    statuses: set[str] = set()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.add(status)

    def call(app: Any, i: int) -> None:
        result = app(environ(i), start_response)
        b"".join(result)
        if hasattr(result, "close"):
            result.close()

    group = GroupCommitter()
    ways = {
        "django": django_application,
        "lean": LeanWebhooks(django_application, store=store_on_this_thread),
        "lean+group": LeanWebhooks(django_application, store=group.store),
    }
    n = args.requests
    print(f"{n} requests each, one at a time (CPU: this process, all threads)")
    for index, (name, app) in enumerate(ways.items()):
        first = index * n
        for i in range(first, first + 50):  # warm-up
            call(app, i)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(first + 50, first + n):
            call(app, i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{name:>11}: CPU {cpu / (n - 50) * 1000:.3f} ms/request, "
            f"wall {wall / (n - 50) * 1000:.2f} ms"
        )
    group.stop()
    print("answers:", sorted(statuses))
    batch_parameters(url, [body for _, _, body in lines[:16]])

    profile = cProfile.Profile(time.process_time)
    first = 3 * n
    profile.enable()
    for i in range(first, first + n):
        call(django_application, i)
    profile.disable()
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]

    def cumulative(fragment: str, function: str) -> float:
        found = [
            value[3]
            for (filename, _, name), value in stats.stats.items()  # type: ignore[attr-defined]
            if fragment in filename and name == function
        ]
        return max(found, default=0.0)

    view = cumulative("apps/webhooks/views.py", "view")
    parts = {
        "signature check (RequestValidator, URL candidates)": cumulative(
            "apps/webhooks/signature.py", "verify"
        ),
        "JSON parse": cumulative("json/__init__.py", "loads"),
        "INSERT (execute, incl. waiting for the commit's fsync)": cumulative(
            "django/db/backends/utils.py", "execute"
        ),
        "wake-up (Redis SET NX after commit)": cumulative(
            "apps/webhooks/services.py", "wake_workers"
        ),
        "headers kept (filter, JSON)": cumulative("apps/webhooks/ingest.py", "_headers"),
    }
    print(
        "\ncProfile of the Django path, CPU time (profiler overhead included): "
        f"{total / n * 1000:.2f} ms/request"
    )
    print(f"  middleware, URL resolving, signals, response: {(total - view) / total:.0%}")
    print(f"  the view (ingest.receive):                    {view / total:.0%}")
    for label, value in parts.items():
        print(f"    {label}: {value / total:.0%}")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(25)
    print(text.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
