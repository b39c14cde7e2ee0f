"""Rule executions per second through the engine, one process (issue 17).

    flock /tmp/bench.lock .venv/bin/python bench/executions.py [--copies 3] [--batch 0 100 200]

Uses DATABASE_URL / REDIS_URL, in a fresh database `<name>_execbench`.

1. Fill: the built-in operators, the four default rules, the demo rubric (published) and the
   knowledge articles (``demo_intelligence_load``), then every demo call (76 calls, 1,387
   lines) ``--copies`` times as new conversations: a customer (with a phone number, so
   customer profiles link) and an agent, every utterance stored through
   ``communication_apply`` + ``communication_added`` (one transaction each, as ingest does),
   then the conversation closed (``conversation_status_seen``: the summary at the end). The
   triggers create about 2.2 PENDING executions per line; no worker runs, nothing is drained.
2. Drain, once per ``--batch`` value: ``executions_drain`` in this process until nothing is
   pending, timed from the first claim to the last commit; then every execution is put back
   to PENDING and what the run stored (results, flags, observations, live events, deliveries)
   is deleted, so every drain sees the same work. Batch 0 means one at a time (the engine's
   single-execution path). For the figure before batching, copy this file into a checkout of
   the earlier commit and run it there (``executions_drain`` without ``batch_size``). The
   per-process caches (rule specs, rubric pins, per-line sentiment) are cleared before each
   drain, so each starts cold.
Prints executions/s, this process's CPU time per execution (all its threads, with the
broadcasts sent after each commit; not PostgreSQL's or Redis's), the statuses, the queries per
execution, and the time per stage of the first batch drain (cProfile, ``--profile``).

The URLconf is loaded before the first drain (a worker loads it once, at its first ``reverse``:
a suggestion's article link), so no drain pays a once-per-process import. ``--task-context``
drains inside the audit context a Celery task runs in (``ccportal.auditing.task_started``:
pghistory prefixes every statement but a SELECT with its ``set_config``), as the
``operators`` worker does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_execbench"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        name = parts.path.lstrip("/")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup(*, fresh: bool) -> None:
    database_url = bench_database_url()
    if fresh:
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
    if fresh:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    import django

    django.setup()


def fill(*, copies: int) -> int:
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.conversations import services as conversations
    from apps.demo.dataset import read_calls
    from apps.demo.services import demo_intelligence_load
    from apps.intelligence import services as intelligence

    User.objects.create_user("admin", password="bench", role="admin", is_superuser=True)
    demo_intelligence_load(shadow=False)  # the bank rubric (published), knowledge, rules
    calls = read_calls()
    started = time.perf_counter()
    lines_stored = 0
    base = timezone.now() - timedelta(days=1)
    for copy in range(copies):
        for number, call in enumerate(calls):
            sid = f"bench_{copy}_{number}"
            start = base + timedelta(minutes=copy * 100 + number)
            with transaction.atomic():
                conversations.conversation_apply(
                    twilio_id=sid, status="ACTIVE", version=start, created_at=start
                )
                conversations.participant_apply(
                    twilio_id=f"{sid}_customer",
                    conversation_twilio_id=sid,
                    type="CUSTOMER",
                    version=start,
                    name=call.caller_name,
                    addresses=[{"address": f"+1555{copy:02d}{number:05d}"}],
                    joined_at=start,
                )
                conversations.participant_apply(
                    twilio_id=f"{sid}_agent",
                    conversation_twilio_id=sid,
                    type="HUMAN_AGENT",
                    version=start,
                    name=call.agent_name,
                    joined_at=start,
                )
            for index, segment in enumerate(s for s in call.segments if s.text):
                with transaction.atomic():
                    communication, _ = conversations.communication_apply(
                        conversations.CommunicationInput(
                            twilio_id=f"{sid}_comm_{index}",
                            conversation_twilio_id=sid,
                            occurred_at=start + timedelta(milliseconds=segment.start_ms),
                            text=segment.text,
                            author_participant_id=f"{sid}_agent"
                            if segment.role == "agent"
                            else f"{sid}_customer",
                            duration_ms=segment.duration_ms,
                        )
                    )
                    intelligence.communication_added(
                        conversation_id=communication.conversation_id,
                        communication_id=communication.pk,
                        enqueue=False,
                    )
                lines_stored += 1
            with transaction.atomic():
                conversation, _ = conversations.conversation_apply(
                    twilio_id=sid, status="CLOSED", version=start + timedelta(hours=1)
                )
                intelligence.conversation_status_seen(
                    conversation_id=conversation.pk, status="CLOSED", at=None, enqueue=False
                )
    print(f"fill: {lines_stored} lines in {time.perf_counter() - started:.1f} s")
    return lines_stored


def reset() -> None:
    """Every execution PENDING again; what a drain stored, deleted."""
    from django.db import connection

    from apps.intelligence.models import Flag, OperatorResult, RuleExecution, WebhookDelivery
    from apps.knowledge.models import Observation
    from apps.live.models import LiveEvent, LiveStream

    WebhookDelivery.objects.all().delete()
    Flag.objects.all().delete()
    Observation.objects.all().delete()
    OperatorResult.objects.all().delete()
    LiveEvent.objects.all().delete()
    LiveStream.objects.all().delete()
    RuleExecution.objects.update(
        status="PENDING", attempts=0, started_at=None, finished_at=None, error="", detail={}
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def caches_clear() -> None:
    from apps.intelligence.operators import embedded
    from apps.intelligence.selectors import rules
    from apps.intelligence.services import engine

    rules._SPECS.clear()
    engine._PINS.clear()
    embedded.line_cache_clear()


def drain(*, batch: int, profile: bool, task_context: bool = False) -> None:
    import contextlib
    import cProfile
    import pstats

    from django.db import connection
    from django.db.models import Count

    from apps.intelligence.models import RuleExecution
    from apps.intelligence.services import engine

    caches_clear()
    import pghistory.runtime

    queries = [0, 0]  # all, and those pghistory prefixes with the audit context

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        queries[0] += 1
        if task_context and pghistory.runtime._can_inject_variable(context["cursor"], sql):
            queries[1] += 1
        return execute(sql, params, many, context)

    total = RuleExecution.objects.filter(status="PENDING").count()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    cpu_started = time.process_time()  # every thread of this process (the broadcasts' too)
    done = 0
    audit: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if task_context:
        from apps.common.audit import audit_context

        audit = audit_context(task="apps.intelligence.tasks.drain_executions")
    with connection.execute_wrapper(count), audit:
        if profiler:
            profiler.enable()
        while True:
            if "batch_size" in engine.executions_drain.__code__.co_varnames:
                ran = engine.executions_drain(max_seconds=600, batch_size=max(batch, 1))
            else:  # the engine before batching (for the "before" figure)
                ran = engine.executions_drain(max_seconds=600)
            done += ran
            if not ran:
                break
        if profiler:
            profiler.disable()
    elapsed = time.perf_counter() - started
    time.sleep(1)  # the last batch's broadcasts, sent after its commit by another thread
    cpu = time.process_time() - cpu_started
    statuses = dict(
        RuleExecution.objects.values_list("status").annotate(n=Count("id")).order_by("status")
    )
    label = f"batch {batch}" if batch else "one at a time"
    print(
        f"drain ({label}): {done} of {total} executions in {elapsed:.2f} s = "
        f"{done / elapsed:,.0f} executions/s; {1000 * cpu / max(done, 1):.3f} ms of this "
        f"process's CPU per execution; {queries[0] / max(done, 1):.2f} queries per "
        f"execution ({queries[1] / max(done, 1):.3f} with the audit context); {statuses}"
    )
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="+", default=[0, 200])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep the filled database")
    parser.add_argument(
        "--task-context", action="store_true", help="drain in a Celery task's audit context"
    )
    args = parser.parse_args()
    setup(fresh=not args.reuse)
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (load the URLconf: once per process)
    if not args.reuse:
        fill(copies=args.copies)
    else:
        reset()
    for number, batch in enumerate(args.batch):
        if number:
            reset()
        drain(batch=batch, profile=args.profile, task_context=args.task_context)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
