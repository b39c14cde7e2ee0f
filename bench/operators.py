"""Language-operator benchmark: embedded sentiment + script adherence per communication.

    python -m ccportal.devstack exec -- python bench/operators.py [compute|latency|all]

Uses DATABASE_URL / REDIS_URL, in a fresh database `<name>_bench` (latency only).

1. compute: what the worker computes for each COMMUNICATION trigger, without the database.
   Every demo call (76 calls, 1,387 lines) is replayed one communication at a time; at each
   step the embedded Sentiment operator (new line scored, the conversation's cumulative label
   and 30-second delta recomputed) and the embedded Script Adherence operator (the whole
   conversation so far checked against the Harper Valley rubric, scored, shaped like Twilio's
   result) run through ``registry.run_operator``, as in the worker (embedded results are not
   re-validated against their schemas at run time; tests/intelligence/test_schemas.py holds
   them to it). One process, one core. Prints
   communications/s, cold (empty per-line cache, first pass) and warm (a second pass).
2. latency: the real path. A Celery worker (one process, `-Q operators`) is started; the
   script stores communications of the demo calls into new conversations through the same
   services the Orchestrator webhook handler calls (communication_apply + communication_added
   in one transaction, the task queued after commit), at a steady rate, several calls at once.
   Each RuleExecution records triggered_at (in that transaction), started_at (claimed by the
   worker) and finished_at (results committed). Prints p50/p95/p99 of trigger -> stored and
   of claimed -> stored ("inside the worker"), for the default "Live sentiment and script
   adherence" rule.
Prints the figures; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def compute(*, profile: bool = False, passes: int = 3, embedder_name: str = "wordllama") -> None:
    import json

    from apps.demo.dataset import read_calls
    from apps.intelligence import builtins
    from apps.intelligence.choices import OperatorKind
    from apps.intelligence.operators import embedded, registry
    from apps.intelligence.operators.base import (
        OperatorContext,
        OperatorSpec,
        PinnedRubric,
        TranscriptLine,
    )
    from apps.rubrics.jsonformat import data_from_document
    from apps.rubrics.structure import structure_from_data

    document = json.loads((ROOT / "apps/demo/data/harper-valley-script.rubric.json").read_text())
    # A version id, as every rubric pinned from the database has (its caches key on it).
    structure = structure_from_data(data_from_document(document), rubric_id=1, version_id=1)
    pinned = PinnedRubric(1, "Harper Valley Bank call script", 1, 1, structure)

    def spec(kind: str, version_id: int) -> OperatorSpec:
        return OperatorSpec(
            version_id=version_id,
            operator_id=version_id,
            key=kind.lower(),
            name=kind,
            kind=kind,
            number=1,
            backend="embedded",
            output_format=builtins.FORMAT_BY_KIND[kind],
            parameters={"delta_window_seconds": 30},
            output_schema=builtins.SCHEMAS_BY_KIND[kind],
        )

    sentiment = spec(OperatorKind.SENTIMENT, 1)
    adherence = spec(OperatorKind.SCRIPT_ADHERENCE, 2)
    calls = read_calls()
    transcripts = []
    pk = 0
    for call in calls:
        lines = []
        for segment in call.segments:
            if not segment.text:
                continue
            pk += 1
            lines.append(
                TranscriptLine(
                    pk=pk,
                    twilio_id=f"comm_{pk}",
                    role="agent" if segment.role == "agent" else "customer",
                    author_type="HUMAN_AGENT" if segment.role == "agent" else "CUSTOMER",
                    offset_ms=segment.start_ms,
                    duration_ms=segment.duration_ms,
                    text=segment.text,
                )
            )
        transcripts.append(lines)
    total = sum(len(lines) for lines in transcripts)

    def one_pass() -> float:
        started = time.perf_counter()
        for lines in transcripts:
            for index in range(1, len(lines) + 1):
                ctx = OperatorContext(
                    conversation_id=0,
                    conversation_twilio_id="bench",
                    lines=lines[:index],
                    window=lines[index - 1 : index],
                    final=False,
                    trigger_on="COMMUNICATION",
                    agent_type="HUMAN_AGENT",
                    rubric_for=lambda _spec: pinned,
                )
                for item in (sentiment, adherence):
                    output = registry.run_operator(item, ctx)
                    assert output is None or output.status != "error", output.error
        return time.perf_counter() - started

    # The semantic checks' embedding model loads once per worker process, not per call.
    import resource

    from apps.rubrics import semantic

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loading = time.perf_counter()
    if embedder_name == "wordllama":
        model = semantic.embedder()
    else:  # --embedder minilm: torch, from a separate venv (bench/embedders.py)
        from bench import embedders

        model = embedders.use(embedder_name)
    loaded = time.perf_counter() - loading
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(f"embedding model ({model.name}) loaded in {loaded:.2f} s, peak RSS +{grown_mb:.0f} MB")
    embedded.line_cache_clear()
    cold = one_pass()
    warm = [one_pass() for _ in range(passes)]
    if profile:  # one more warm pass under cProfile: where a communication's time goes
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(one_pass)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print(
        f"compute: {len(transcripts)} calls, {total} communications, each step = sentiment + "
        "script adherence over the conversation so far"
    )
    best = min(warm)
    for label, seconds in (("cold (first pass)", cold), (f"warm (best of {passes}) ", best)):
        print(
            f"  {label}: {total / seconds:,.0f} communications/s "
            f"({seconds * 1000 / total:.2f} ms each)"
        )
    # The per-line sentiment alone, every text new to its cache (as a first call's lines are).
    from apps.intelligence.nlp import sentiment as nlp_sentiment

    texts = [line.text for lines in transcripts for line in lines]
    rounds = []
    for _ in range(20):
        nlp_sentiment._sentiment_of_clean.cache_clear()
        started = time.perf_counter()
        for text in texts:
            nlp_sentiment.sentiment_of(text)
        rounds.append(time.perf_counter() - started)
    print(
        f"  sentiment_of alone, uncached: {min(rounds) * 1e6 / len(texts):.1f} us per line "
        f"(best of 20; median {statistics.median(rounds) * 1e6 / len(texts):.1f} us)"
    )


def bench_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        name = parts.path.lstrip("/")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def latency(*, rate: float, calls_at_once: int, communications: int, pool: str) -> None:
    database_url = bench_database_url()
    recreate_database(database_url)
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": env.get("SECRET_KEY", "bench"),
        }
    )
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "ccportal", "purge", "-f", "-Q", "operators"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.conversations import services as conversations
    from apps.demo.dataset import read_calls
    from apps.demo.services import demo_intelligence_load
    from apps.intelligence import services as intelligence
    from apps.intelligence.models import Rule, RuleExecution

    User.objects.create_user("admin", password="bench", role="admin", is_superuser=True)
    demo_intelligence_load()  # the bank rubric (published), knowledge, default rules
    Rule.objects.exclude(key="live-sentiment-adherence").update(is_active=False)

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ccportal",
            "worker",
            "-Q",
            "operators",
            "-c",
            "1",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            f"--pool={pool}",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        time.sleep(4)  # worker start-up
        calls = read_calls()
        run = int(time.time())
        streams = []
        for number, call in enumerate(calls):
            lines = [s for s in call.segments if s.text]
            streams.append((f"bench_{run}_{number}", call, lines))
        sent = 0
        interval = 1.0 / rate
        next_at = time.perf_counter()
        active = streams[:calls_at_once]
        queue = streams[calls_at_once:]
        positions = {conv_id: 0 for conv_id, _, _ in streams}
        started_at = timezone.now()
        while sent < communications and active:
            for stream in list(active):
                if sent >= communications:
                    break
                conv_id, call, lines = stream
                index = positions[conv_id]
                if index >= len(lines):
                    active.remove(stream)
                    if queue:
                        active.append(queue.pop(0))
                    continue
                segment = lines[index]
                positions[conv_id] = index + 1
                now = time.perf_counter()
                if now < next_at:
                    time.sleep(next_at - now)
                next_at += interval
                with transaction.atomic():
                    communication, _ = conversations.communication_apply(
                        conversations.CommunicationInput(
                            twilio_id=f"{conv_id}_comm_{index}",
                            conversation_twilio_id=conv_id,
                            occurred_at=started_at
                            + timezone.timedelta(milliseconds=segment.start_ms),
                            text=segment.text,
                            author_address="agent" if segment.role == "agent" else "+15550100",
                        )
                    )
                    intelligence.communication_added(
                        conversation_id=communication.conversation_id,
                        communication_id=communication.pk,
                    )
                sent += 1
        print(f"latency: sent {sent} communications at {rate:.0f}/s, {calls_at_once} calls at once")
        deadline = time.monotonic() + 120
        executions = RuleExecution.objects.filter(
            conversation__twilio_id__startswith=f"bench_{run}_"
        )
        while time.monotonic() < deadline:
            if not executions.filter(status__in=["PENDING", "RUNNING"]).exists():
                break
            time.sleep(0.5)
        rows = list(
            executions.exclude(finished_at=None).values_list(
                "triggered_at", "started_at", "finished_at", "status"
            )
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    total = [(f - t).total_seconds() * 1000 for t, s, f, _ in rows]
    inside = [(f - s).total_seconds() * 1000 for t, s, f, _ in rows]
    statuses: dict[str, int] = {}
    for *_, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"  executions finished: {len(rows)} of {executions.count()} ({statuses})")
    for label, values in (
        ("trigger -> stored", total),
        ("inside the worker (claimed -> stored)", inside),
    ):
        p50, p95, p99 = (percentile(values, q) for q in (0.5, 0.95, 0.99))
        print(
            f"  {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
            f"max {max(values):.1f} ms, mean {statistics.mean(values):.1f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", default="all", choices=["compute", "latency", "all"])
    parser.add_argument("--rate", type=float, default=40.0, help="communications per second")
    parser.add_argument("--calls-at-once", type=int, default=8)
    parser.add_argument("--communications", type=int, default=1200)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"])
    parser.add_argument("--passes", type=int, default=3, help="compute: warm passes")
    parser.add_argument(
        "--profile", action="store_true", help="compute: print a cProfile of one warm pass"
    )
    parser.add_argument(
        "--embedder",
        default="wordllama",
        choices=["wordllama", "minilm"],
        help="compute only: the semantic checks' model (minilm: see bench/embedders.py)",
    )
    args = parser.parse_args()
    if args.what == "all":  # each part sets Django up its own way: one process each
        for part in ("compute", "latency"):
            subprocess.run([sys.executable, __file__, part, *sys.argv[2:]], check=True)
        return 0
    if args.what == "compute":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
        import django

        django.setup()
        compute(profile=args.profile, passes=args.passes, embedder_name=args.embedder)
    if args.what == "latency":
        latency(
            rate=args.rate,
            calls_at_once=args.calls_at_once,
            communications=args.communications,
            pool=args.pool,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
