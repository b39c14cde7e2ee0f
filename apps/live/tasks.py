"""Thin tasks over apps.live.streams; safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from .streams import live_purge


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=1800)
def purge_live_events() -> int:
    """Beat, hourly: events older than LIVE_EVENT_RETENTION_HOURS (pages then reload instead)."""
    return live_purge()
