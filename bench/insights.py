"""Insights benchmark: the full rebuild at a million communications, how soon an event reaches
the rollups, and the dashboards' server time at that size.

    python -m ccportal.devstack exec -- python bench/insights.py [--conversations 60000]
        [--events 150] [--reuse]

Uses DATABASE_URL / REDIS_URL, in a database `<name>_bench_insights` (made anew unless
``--reuse`` finds it filled). Steps:

1. Data: migrate, ``load_demo --no-shadow`` (the bank's rubric, agents, logins), then
   ``generate_conversations`` (COPY; timed, not part of the targets).
2. Full rebuild: ``insights_rebuild()`` twice (the second one finds the facts already there and
   rewrites only what changed, i.e. nothing); the first is the figure.
3. Event to rollup: a real Celery worker on the ``insights`` queue (one process, prefork, as in
   the ``make run`` shape). Each event is a sentiment result stored through the intelligence
   service (its own transaction, as the ingest worker does); the clock starts at its commit
   and stops when the bucket's ``sentiment_delta_sum`` in the rollups shows the new value
   (polled every 2 ms from another session). Two shapes: one event at a time, 20-80 ms apart;
   and bursts of 50 events on 50 conversations at once.
4. Dashboards: Django's test client in process (server time, no network) as an admin (all
   data) and a coach (two teams), the first request of each page a warm-up; query counts.
Prints the figures; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402
from bench.timing import summary  # noqa: E402


def sizes() -> dict[str, int]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in (
            "conversations_conversation",
            "conversations_communication",
            "intelligence_operatorresult",
            "qa_review",
            "insights_conversationfact",
            "insights_rollup",
            "insights_criterionrollup",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            out[table] = cursor.fetchone()[0]
    return out


def data(conversations: int, reuse: bool) -> None:
    from django.core.management import call_command

    if reuse and sizes()["conversations_conversation"] >= conversations:
        print("Reusing the data already in the bench database.")
        return
    began = time.monotonic()
    call_command("load_demo", "--no-shadow", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    from apps.demo.generate import generate_conversations

    counts = generate_conversations(conversations=conversations, days=120, seed=7)
    seconds = time.monotonic() - began
    print(
        f"Generated {counts.conversations:,} conversations, {counts.communications:,} "
        f"communications, {counts.results:,} results, {counts.reviews:,} reviews in "
        f"{seconds:.0f} s (with the demo load)."
    )


def rebuild() -> None:
    from django.db import connection

    from apps.insights.services import insights_rebuild

    with connection.cursor() as cursor:  # from nothing: no facts, no suggestion scores
        cursor.execute(
            "TRUNCATE insights_conversationfact, insights_suggestionscore, insights_rollup, "
            "insights_criterionrollup, insights_labelrollup, insights_dirtybucket, "
            "insights_staleconversation"
        )
    for label, workers in (("from empty", None), ("again", None), ("again, one connection", 1)):
        began = time.monotonic()
        report = insights_rebuild(workers=workers)
        total = time.monotonic() - began
        print(
            f"Full rebuild ({label}): {total:.1f} s for {report.conversations:,} conversations "
            f"(facts {report.seconds_facts} s on {report.workers} connection(s), "
            f"{report.suggestions_scored:,} suggestions scored; rollups "
            f"{report.seconds_rollups} s, {report.rollup_rows:,} rows)"
        )


def start_worker() -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "ccportal", "worker", "-Q", "insights",
            "-c", "1", "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    time.sleep(6)  # the worker connects and imports everything
    return worker


def _bucket_sum(cursor: Any, fact: tuple) -> float:
    day, team, agent, queue, channel = fact
    cursor.execute(
        "SELECT sentiment_delta_sum FROM insights_rollup WHERE day = %s "
        "AND team_id IS NOT DISTINCT FROM %s AND agent_id IS NOT DISTINCT FROM %s "
        "AND queue = %s AND channel = %s",
        [day, team, agent, queue, channel],
    )
    row = cursor.fetchone()
    return row[0] if row else 0.0


def _store(twilio_id: str, delta: float, n: int) -> None:
    from django.utils import timezone

    from apps.intelligence import services as intelligence
    from apps.intelligence.services.results import OperatorResultInput

    intelligence.operator_result_store(
        OperatorResultInput(
            result_id=f"bench_insights_{os.getpid()}_{n}",
            conversation_twilio_id=twilio_id,
            operator_id="intelligence_operator_bench_sentiment",
            operator_name="Sentiment",
            output_format="CLASSIFICATION",
            result={"label": "neutral", "delta": {"first": 0.0, "last": delta, "delta": delta}},
            date_created=timezone.now() + timedelta(days=1),  # the latest result of its call
        )
    )


def events(count: int) -> None:
    """Event -> rollup current, one at a time and in bursts."""
    import psycopg
    from django.conf import settings
    from django.db import connection

    worker = start_worker()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.twilio_id, f.day, f.team_id, f.agent_id, f.queue, f.channel, "
                "coalesce(f.sentiment_delta, 0) FROM insights_conversationfact f "
                "JOIN conversations_conversation c ON c.id = f.conversation_id "
                "ORDER BY random() LIMIT %s",
                [count + 200],
            )
            picks = cursor.fetchall()
        db = settings.DATABASES["default"]
        watcher = psycopg.connect(
            host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"],
            password=db["PASSWORD"] or None, autocommit=True,
        )  # fmt: skip
        rng = random.Random(3)
        n = 0

        def one(pick: tuple) -> tuple[float, tuple, float]:
            nonlocal n
            twilio_id, *bucket, old = pick
            bucket_t = tuple(bucket)
            with watcher.cursor() as cursor:
                before = _bucket_sum(cursor, bucket_t)
            delta = round(rng.uniform(-1, 1), 4)
            n += 1
            _store(twilio_id, delta, n)
            return before + delta - old, bucket_t, time.perf_counter()

        def wait(expected: float, bucket: tuple, since: float) -> float:
            with watcher.cursor() as cursor:
                while True:
                    if abs(_bucket_sum(cursor, bucket) - expected) < 1e-6:
                        return time.perf_counter() - since
                    if time.perf_counter() - since > 30:
                        return float("inf")
                    time.sleep(0.002)

        single = []
        for pick in picks[:count]:
            expected, bucket, since = one(pick)
            single.append(wait(expected, bucket, since))
            time.sleep(rng.uniform(0.02, 0.08))
        print(summary("event -> rollup, one at a time", single))
        burst_times: list[float] = []
        rest = picks[count:]
        for start in range(0, min(len(rest), 150), 50):
            group = rest[start : start + 50]
            buckets = {tuple(p[1:6]) for p in group}
            if len(buckets) < len(group):
                group = list({tuple(p[1:6]): p for p in group}.values())
            pending = [one(p) for p in group]
            for expected, bucket, since in pending:
                burst_times.append(wait(expected, bucket, since))
        print(summary("event -> rollup, bursts of 50 calls", burst_times))
        watcher.close()
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def pages() -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from apps.accounts.models import User

    today = timezone.localdate()
    last30 = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    last90 = {"from": (today - timedelta(days=89)).isoformat(), "to": today.isoformat()}
    cases = [
        ("overview, 30 days", "/insights/", last30),
        ("overview, 90 days", "/insights/", last90),
        ("agents table, 90 days", "/insights/agents/", last90),
        ("criteria + heatmap, 90 days", "/insights/criteria/", last90),
        ("trend of the QA score, 90 days", "/insights/trends/", {**last90, "kpi": "qa_score"}),
        ("AI agent, 90 days", "/insights/ai/", last90),
        ("drill-down, first page, 90 days", "/insights/conversations/", last90),
        ("agents.csv, 90 days", "/api/insights/agents.csv", last90),
        ("API overview, 90 days", "/api/insights/overview/", last90),
    ]
    for username in ("admin", "coach"):
        client = Client(HTTP_HOST="localhost")
        client.force_login(User.objects.get(username=username))
        print(f"Pages as {username}:")
        for label, url, params in cases:
            client.get(url, params)  # warm-up
            times = []
            queries = 0
            for _ in range(15):
                with CaptureQueriesContext(connection) as captured:
                    began = time.perf_counter()
                    response = client.get(url, params)
                    if hasattr(response, "streaming_content"):
                        b"".join(response.streaming_content)
                    times.append(time.perf_counter() - began)
                assert response.status_code == 200, (url, response.status_code)
                queries = len(captured)
            print("  " + summary(f"{label} ({queries} queries)", times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=60000)
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--skip", default="", help="comma list of: rebuild,events,pages")
    args = parser.parse_args()
    timing.bench_django("insights", reuse=args.reuse)
    data(args.conversations, args.reuse)
    print("Sizes:", ", ".join(f"{k} {v:,}" for k, v in sizes().items()))
    skip = set(filter(None, args.skip.split(",")))
    if "rebuild" not in skip:
        rebuild()
    if "events" not in skip:
        events(args.events)
    if "pages" not in skip:
        pages()
    print("Sizes:", ", ".join(f"{k} {v:,}" for k, v in sizes().items()))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
