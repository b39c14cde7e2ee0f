"""Thin tasks over apps.privacy; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from . import services
from .retention import retention_run


@shared_task(
    queue=CeleryQueue.DEFAULT,
    acks_late=True,
    ignore_result=True,
    expires=6 * 3600,
    time_limit=3600,
    soft_time_limit=3300,
)
def run_retention() -> dict[str, int]:
    """Beat, nightly: every kind past its schedule, in batches (stops between batches after
    50 minutes; the next night goes on)."""
    return retention_run(budget_seconds=3000)


@shared_task(
    queue=CeleryQueue.DEFAULT,
    acks_late=True,
    ignore_result=True,
    time_limit=3600,
    soft_time_limit=3300,
)
def process_erasure(request_id: int) -> str:
    request = services.erasure_process(request_id=request_id)
    return request.status if request is not None else "skipped"


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=600)
def sweep_erasures() -> int:
    return services.erasure_sweep()
