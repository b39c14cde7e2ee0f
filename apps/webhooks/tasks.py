"""Thin tasks over apps.webhooks.services; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from . import partitions, services


@shared_task(queue=CeleryQueue.INGEST, acks_late=True, ignore_result=True)
def drain_inbox() -> int:
    return services.inbox_drain()


@shared_task(queue=CeleryQueue.INGEST, acks_late=True, ignore_result=True, expires=30)
def sweep_inbox() -> dict[str, int]:
    return services.inbox_sweep()


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=3600)
def purge_inbox() -> int:
    return services.inbox_purge()


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=3000)
def purge_rejected() -> int:
    return services.inbox_purge_rejected()


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=3000)
def maintain_inbox_partitions() -> dict[str, object]:
    return partitions.inbox_partitions_maintain()
