"""Thin tasks over apps.intelligence.services; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from . import services

WEBHOOK_MAX_RETRIES = services.DELIVERY_MAX_ATTEMPTS - 1


@shared_task(
    queue=CeleryQueue.OPERATORS,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=240,
    time_limit=300,
)
def drain_executions() -> int:
    """Woken after commits that add executions (apps.common.wake); runs all pending ones."""
    return services.executions_drain()


@shared_task(queue=CeleryQueue.OPERATORS, acks_late=True, ignore_result=True, expires=60)
def sweep_executions() -> dict[str, int]:
    return services.execution_sweep()


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=60)
def sweep_deliveries() -> dict[str, int]:
    return services.delivery_sweep()


@shared_task(
    bind=True,
    queue=CeleryQueue.DEFAULT,
    acks_late=True,
    ignore_result=True,
    max_retries=WEBHOOK_MAX_RETRIES,
    time_limit=60,
)
def webhook_deliver(self, delivery_id: int) -> str | None:  # type: ignore[no-untyped-def]
    final = self.request.retries >= WEBHOOK_MAX_RETRIES
    try:
        return services.webhook_deliver(delivery_id=delivery_id, final_attempt=final)
    except services.DeliveryRetry as error:
        if final:
            return None
        raise self.retry(exc=error, countdown=min(2 ** (self.request.retries + 2), 600)) from error
