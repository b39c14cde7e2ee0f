"""Thin tasks of the conversations app; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.common import partitions
from ccportal.celery import CeleryQueue


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=3000)
def maintain_month_partitions() -> dict[str, object]:
    """Communications' and operator results' months ahead made, dangling references logged."""
    return partitions.month_partitions_maintain()
