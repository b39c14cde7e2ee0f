"""What the database benchmarks share: their own database next to DATABASE_URL's, and latency
summaries (nearest-rank percentiles)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit


def bench_database_url(suffix: str) -> str:
    """DATABASE_URL with the database renamed ``<name>_bench_<suffix>``."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_bench_{suffix}"))


def bench_django(suffix: str, *, reuse: bool) -> str:
    """Point Django at the benchmark's own database (``bench_database_url(suffix)``), made anew
    unless ``reuse`` asks to keep one that exists, set Django up and migrate. Returns its URL."""
    import psycopg

    from bench.webhook_ingest import recreate_database

    url = bench_database_url(suffix)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["DATABASE_URL"] = url
    os.environ["DB_POOL"] = "false"
    parts = urlsplit(url)
    exists = None
    if reuse:
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [parts.path.lstrip("/")]
            ).fetchone()
    if not exists:
        recreate_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(label: str, seconds: list[float], width: int = 44) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{label:<{width}} n={len(ms):>5}  p50 {statistics.median(ms):7.1f} ms  "
        f"p95 {percentile(ms, 95):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  "
        f"max {max(ms):7.1f} ms"
    )


UNFINISHED = "SELECT count(*) FROM webhooks_inboundevent WHERE status IN ('pending','processing')"


def wait_until_processed(count: Callable[[str], int], *, limit: float, poll: float) -> None:
    """Poll ``count(UNFINISHED)`` until the inbox has nothing pending or processing, or
    ``limit`` seconds have passed (the caller times the drain and counts what is done)."""
    started = time.monotonic()
    while count(UNFINISHED) and time.monotonic() - started <= limit:
        time.sleep(poll)
