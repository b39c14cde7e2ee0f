"""gunicorn settings for the HTTP tier, the alternative to granian (compose.yaml's web service).

bench/webhook_ingest.py --server gunicorn measures it against granian (docs/benchmarks.md).

Requests here mostly wait on PostgreSQL commits, so threads keep many transactions in flight
(group commit) while a few processes spread the CPU work; see docs/benchmarks.md for figures.
"""

from __future__ import annotations

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
raw_env = ["DB_POOL=false", f"DB_CONN_MAX_AGE={os.environ.get('DB_CONN_MAX_AGE', '600')}"]


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    # Objects loaded at import never die: keep them out of the collector's scans (tail latency).
    gc.freeze()
