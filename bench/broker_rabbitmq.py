"""Run the project's ingest path with RabbitMQ as the Celery broker (docs/scaling.md, "Broker").

Starts a Celery worker with ``CELERY_BROKER_URL=amqp://...`` on every queue, stores signed-looking
Orchestrator events through ``services.inbox_store`` (which wakes the workers: a Redis ``SET NX``
then one Celery publish, now to RabbitMQ), and waits until the worker has processed them. Also
publishes the beat sweeper's task once by hand. Prints what happened and how long it took.

    source /tmp/envN.sh
    PYTHONPATH=$PWD python bench/broker_rabbitmq.py [--broker amqp://guest:guest@127.0.0.1:5672//]
        [--events 200]

Uses the database of DATABASE_URL (migrated first) and the Redis of REDIS_URL: Redis stays for
the cache, the channel layer and the wake-up flags; only the broker moves.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)

    import django

    django.setup()
    from django.conf import settings

    from apps.webhooks import services
    from apps.webhooks.models import InboundEvent
    from ccportal.celery import app

    transport = app.connection().transport_cls
    print(f"broker: {settings.CELERY_BROKER_URL.split('@')[-1]} (transport {transport})")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ccportal", "worker",
         "-Q", "default,ingest,operators,insights", "-c", "2", "--loglevel=WARNING",
         "-n", f"rabbit-{os.getpid()}@%h"],
        cwd=ROOT, env=os.environ.copy(),
    )  # fmt: skip
    try:
        time.sleep(6)  # the worker connects and declares its queues
        body = json.loads((ROOT / "tests/webhooks/fixtures/communication_created.json").read_text())
        run = uuid.uuid4().hex[:8]
        ids = []
        started = time.perf_counter()
        for n in range(args.events):
            payload = dict(body)
            payload["data"] = dict(body["data"], id=f"CM{run}{n:06d}")
            stored = services.inbox_store(
                source="orchestrator",
                key=f"token:{run}-{n}",
                event_type=payload.get("eventType", "COMMUNICATION_CREATED"),
                account_sid="AC0",
                url="https://example.test/webhooks",
                headers={},
                content_type="application/json",
                body=json.dumps(payload),
                body_size=0,
                signature_valid=True,
            )
            ids.append(stored.event_id)
        stored_s = time.perf_counter() - started
        deadline = time.time() + 120
        while time.time() < deadline:
            left = InboundEvent.objects.filter(pk__in=ids, status__in=["pending", "processing"])
            if not left.exists():
                break
            time.sleep(0.2)
        took = time.perf_counter() - started
        by_status: dict[str, int] = {}
        for status in InboundEvent.objects.filter(pk__in=ids).values_list("status", flat=True):
            by_status[status] = by_status.get(status, 0) + 1
        print(f"stored {len(ids)} events in {stored_s:.2f} s;", end=" ")
        print(f"all settled after {took:.2f} s: {by_status}")
        result = app.send_task("apps.webhooks.tasks.sweep_inbox")
        print(f"published the sweeper by hand: {result.id} (no result backend: see the worker log)")
        time.sleep(2)
    finally:
        os.kill(worker.pid, signal.SIGTERM)  # warm shutdown: the pool finishes its tasks
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
