"""Thin tasks over apps.floor.services; safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from . import services


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=60)
def refresh_floor() -> int:
    """Woken after commits that changed live conversations: send their tiles."""
    services.FLOOR_WAKER.clear()
    sent = 0
    for _ in range(20):  # a burst marked while we sent: drain it too, then stop
        done = services.floor_refresh()
        sent += done
        if not done:
            break
    return sent


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=30)
def sweep_floor() -> int:
    """Beat, every FLOOR_SWEEP_SECONDS: alerts that fire without a write (silence, windows)."""
    return services.floor_sweep()
