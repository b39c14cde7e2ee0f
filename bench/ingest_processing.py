"""Ingest processing benchmark: how fast one ingest worker process applies stored events.

    python bench/ingest_processing.py [--events 20000] [--rules on|off] [--mix communications|calls]
                                      [--code /path/to/a/checkout]

Uses DATABASE_URL / REDIS_URL, in a fresh database `<name>_bench_processing`. Unlike
bench/webhook_ingest.py it does not serve HTTP: it fills the inbox directly with rows as the
webhook view stores them (signature checked, status pending), then starts one Celery worker
process (``-Q ingest --concurrency 1``, the production shape), wakes it, and times the drain.

- ``--rules on`` (the default) keeps the default rules that ``migrate`` creates (live sentiment
  and adherence and live suggestions on every communication, a rolling summary every 5, a summary
  at the end): ingest then also creates their executions (trigger points). No operator worker
  runs, so the executions stay pending: this measures ingest alone. ``--rules off`` deactivates
  every rule first.
- ``--mix communications``: the events of bench/webhook_ingest.py (COMMUNICATION_CREATED, 20 per
  conversation, in a row). ``--mix calls``: whole calls, 50 at a time interleaved as a center's
  traffic is: CONVERSATION_CREATED, two PARTICIPANT_ADDED, 20 communications, a
  CONVERSATION_UPDATED to CLOSED each.
- ``--code`` runs ``migrate`` and the worker from another checkout (e.g. the code before a
  change), with this script's events: the inbox's columns are the same.

Prints events/s and checks every event was processed. docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402

ACCOUNT = "AC00000000000000000000000000000000"


def bench_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_bench_processing"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def utterances() -> list[str]:
    from apps.demo.dataset import read_calls

    return [s.text for call in read_calls() for s in call.segments if s.text]


def _time(second: int) -> str:
    return f"2026-11-23T10:{second // 60 % 60:02d}:{second % 60:02d}Z"


def communication(i: int, conversation: int, n: int, texts: list[str]) -> dict:
    customer = n % 2 == 0
    return {
        "eventType": "COMMUNICATION_CREATED",
        "timestamp": "2026-11-23T10:00:00.000Z",
        "data": {
            "id": f"conv_communication_bench{i:010d}",
            "conversationId": f"conv_conversation_bench{conversation:08d}",
            "accountId": ACCOUNT,
            "author": {
                "address": "+15551230000" if customer else "client:agent",
                "channel": "VOICE",
                "participantId": f"conv_participant_bench{conversation:08d}"
                + ("c" if customer else "a"),
            },
            "content": {
                "type": "TRANSCRIPTION",
                "text": texts[i % len(texts)],
                "transcription": {"channel": 0, "confidence": 0.91, "engine": "deepgram"},
            },
            "channelId": f"CA{conversation:032d}",
            "occurredAt": _time(n * 3),
            "createdAt": "2026-11-23T10:00:00Z",
            "updatedAt": "2026-11-23T10:00:00Z",
        },
    }


def call(conversation: int, first: int, per: int, texts: list[str]) -> list[dict]:
    conv_id = f"conv_conversation_bench{conversation:08d}"

    def conv(event_type: str, status: str, at: str) -> dict:
        data = {"id": conv_id, "status": status, "accountId": ACCOUNT}
        data |= {"createdAt": _time(0), "updatedAt": at}
        return {"eventType": event_type, "timestamp": at, "data": data}

    def participant(kind: str, suffix: str) -> dict:
        return {
            "eventType": "PARTICIPANT_ADDED",
            "timestamp": _time(1),
            "data": {
                "id": f"conv_participant_bench{conversation:08d}{suffix}",
                "conversationId": conv_id,
                "type": kind,
                "name": "Agent" if kind == "HUMAN_AGENT" else "Customer",
                "addresses": [{"address": "+15551230000", "channel": "VOICE"}],
                "createdAt": _time(1),
                "updatedAt": _time(1),
            },
        }

    events = [
        conv("CONVERSATION_CREATED", "ACTIVE", _time(0)),
        participant("CUSTOMER", "c"),
        participant("HUMAN_AGENT", "a"),
    ]
    events += [communication(first + n, conversation, n, texts) for n in range(per)]
    events.append(conv("CONVERSATION_UPDATED", "CLOSED", _time(per * 3 + 5)))
    return events


def make_events(count: int, mix: str, per: int, at_once: int = 50) -> list[dict]:
    texts = utterances()
    if mix == "communications":
        return [communication(i, i // per, i % per, texts) for i in range(count)]
    calls = []
    made = 0
    while made < count:
        events = call(len(calls), made, per, texts)
        calls.append(events)
        made += len(events)
    ordered: list[dict] = []
    for start in range(0, len(calls), at_once):  # calls in progress at once
        group = calls[start : start + at_once]
        for position in range(max(len(events) for events in group)):
            ordered += [events[position] for events in group if position < len(events)]
    return ordered[:count]


def fill_inbox(url: str, events: list[dict]) -> None:
    """The rows the webhook view stores: one per event, keyed, pending, signature checked."""
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY webhooks_inboundevent (source, idempotency_key, event_type, account_sid, url, "
            "headers, content_type, body, body_size, body_sha256, signature_valid, status, "
            "attempts, error, result, received_at, available_at) FROM STDIN"
        ) as copy:
            for i, event in enumerate(events):
                body = json.dumps(event, separators=(",", ":"))
                copy.write_row(
                    (
                        "orchestrator",
                        f"token:bench{i:010d}",
                        event["eventType"],
                        ACCOUNT,
                        "https://portal.example.com/webhooks/twilio/orchestrator",
                        "{}",
                        "application/json",
                        body,
                        len(body),
                        "",
                        True,
                        "pending",
                        0,
                        "",
                        "{}",
                        "2026-11-23T10:00:00Z",
                        "2026-11-23T10:00:00Z",
                    )
                )
        conn.commit()


def count(url: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute(sql).fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--per-conversation", type=int, default=20)
    parser.add_argument("--mix", choices=("communications", "calls"), default="communications")
    parser.add_argument("--rules", choices=("on", "off"), default="on")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to run the worker from")
    parser.add_argument("--batch-size", type=int, default=0, help="INGEST_BATCH_SIZE (0: default)")
    parser.add_argument(
        "--processes", type=int, default=1, help="ingest worker processes (one drain task each)"
    )
    parser.add_argument(
        "--calls-at-once", type=int, default=50, help="--mix calls: calls in progress at once"
    )
    args = parser.parse_args()
    code = args.code.resolve()

    url = bench_database_url()
    recreate_database(url)
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "ccportal.settings",
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": env.get("SECRET_KEY", "bench"),
            "PYTHONPATH": str(code),
        }
    )
    if args.batch_size:
        env["INGEST_BATCH_SIZE"] = str(args.batch_size)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=code, check=True)
    rules = count(url, "SELECT count(*) FROM intelligence_rule WHERE is_active")
    if args.rules == "off":
        import psycopg

        with psycopg.connect(url) as conn:
            conn.execute("UPDATE intelligence_rule SET is_active = false")
        rules = 0
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "ccportal", "purge", "-f", "-Q", "ingest"],
        env=env,
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    events = make_events(args.events, args.mix, args.per_conversation, args.calls_at_once)
    fill_inbox(url, events)
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "ccportal", "worker", "-Q", "ingest"),
            *("-P", "prefork", f"--concurrency={args.processes}", "--loglevel=WARNING"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ],
        env=env,
        cwd=code,
    )
    try:
        time.sleep(3)  # worker start-up, not counted
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); "
                "from apps.webhooks.services import inbox_sweep; inbox_sweep(); "
                "from apps.webhooks.tasks import drain_inbox; "
                f"[drain_inbox.delay() for _ in range({args.processes - 1})]",
            ],
            env=env,
            cwd=code,
            check=True,
        )
        timing.wait_until_processed(
            lambda sql: count(url, sql), limit=900 - (time.monotonic() - started), poll=0.2
        )
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    processed = count(url, "SELECT count(*) FROM webhooks_inboundevent WHERE status='processed'")
    communications = count(url, "SELECT count(*) FROM conversations_communication")
    executions = count(url, "SELECT count(*) FROM intelligence_ruleexecution")
    print(
        f"processing ({args.mix}, {rules} active rules, code {code}): {len(events)} events in "
        f"{elapsed:.1f} s = {len(events) / elapsed:.0f} events/s, "
        f"{args.processes} worker process(es); "
        f"processed {processed}, communications {communications}, rule executions {executions}"
    )
    return 0 if processed == len(events) else 1


if __name__ == "__main__":
    raise SystemExit(main())
