"""Where an ingest drain's time and statements go, per kind of event (in-process, profiled).

    python bench/ingest_profile.py [--code /path/to/a/checkout] [--events 4800] [--top 40]

Fills a fresh database `<name>_profile` with ``bench/ingest_processing.py``'s ``--mix calls``
events (whole calls, 50 at a time), then drains it in this process under cProfile, counting the
SQL statements each service runs (the services are wrapped by name; the ones a checkout lacks
are skipped, so the code before a change can be profiled with ``--code``). Prints events/s
(slowed by the profiler: compare runs, not absolutes), the statements per service and the
profile's top functions by cumulative time. docs/benchmarks.md records what it found.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WRAPPED = {
    "apps.conversations.services": (
        "conversation_apply",
        "participant_apply",
        "communications_apply",
        "conversations_apply",
        "participants_apply",
    ),
    "apps.intelligence.services": (
        "conversation_status_seen",
        "conversations_status_seen",
        "communications_added",
    ),
    "apps.webhooks.services": ("_finish_many", "inbox_claim"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", type=Path, default=HERE.parent)
    parser.add_argument("--events", type=int, default=4800)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    code = str(args.code.resolve())

    import ingest_processing as bench

    sys.path.insert(0, code)  # after bench's own checkout: the code profiled is --code's
    url = bench.bench_database_url().replace("_bench_processing", "_profile")
    bench.recreate_database(url)
    os.environ.update({"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "DJANGO_DEBUG": "false"})
    env = {**os.environ, "PYTHONPATH": code}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=code, check=True)
    events = bench.make_events(args.events, "calls", 20, 50)
    bench.fill_inbox(url, events)

    import importlib

    import django

    django.setup()
    from django.db import connection

    statements: Counter[str] = Counter()
    label = ["other"]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[label[0]] += 1
        return execute(sql, params, many, context)

    def labelled(name: str, function: Any) -> Any:
        def inner(*a: Any, **k: Any) -> Any:
            outer, label[0] = label[0], name
            try:
                return function(*a, **k)
            finally:
                label[0] = outer

        return inner

    for module_name, names in WRAPPED.items():
        module = importlib.import_module(module_name)
        for name in names:
            if hasattr(module, name):
                setattr(module, name, labelled(name, getattr(module, name)))
    from apps.webhooks import services

    profile = cProfile.Profile()
    with connection.execute_wrapper(count):
        started = time.monotonic()
        profile.enable()
        done = services.inbox_drain(max_seconds=600)
        profile.disable()
        elapsed = time.monotonic() - started
    print(
        f"code {code}: {done} events in {elapsed:.1f} s = {done / elapsed:.0f} events/s (profiled)"
    )
    print(dict(Counter(event["eventType"] for event in events)))
    for name, n in statements.most_common():
        print(f"  statements in {name}: {n}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    return 0 if done == len(events) else 1


if __name__ == "__main__":
    raise SystemExit(main())
