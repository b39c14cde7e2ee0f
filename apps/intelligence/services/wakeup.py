"""Waking the operator workers: pending executions are the queue (``apps.common.wake``)."""

from __future__ import annotations

from apps.common.wake import Waker

# Pending executions are the queue; one wake-up message per burst, not one per execution (a
# Celery publish per communication cost the ingest workers two thirds of their throughput).
OPERATORS_WAKER = Waker(
    key="ccportal:operators:wake",
    ttl_ms=2000,
    task="apps.intelligence.tasks.drain_executions",
    what="operator workers",
)


def executions_wake() -> None:
    """After commit: make sure a worker drains the pending executions (this one among them)."""
    OPERATORS_WAKER.wake()
