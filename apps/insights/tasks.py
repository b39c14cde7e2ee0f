"""Thin tasks over apps.insights.services; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from . import services


@shared_task(
    queue=CeleryQueue.INSIGHTS,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=150,
)
def refresh_insights() -> dict[str, int | bool]:
    """Woken after a commit that marked facts stale (and by beat, as the safety net)."""
    report = services.insights_refresh()
    return {
        "conversations": report.conversations,
        "buckets": report.buckets,
        "complete": report.complete,
    }
