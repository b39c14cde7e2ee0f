"""Thin tasks over apps.floor.services; safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from . import services


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=60)
def refresh_floor(follow_up: bool = True) -> int:
    """Woken after commits that changed live conversations: send their tiles, once.

    The wake flag is left to expire (``FLOOR_WAKER``'s TTL) rather than cleared: changes
    during that time only add marks, so a busy floor costs a refresh per TTL, not one per
    change. Marks added meanwhile are taken by one follow-up run a TTL later (and by the beat's
    sweep, should that be lost)."""
    sent = services.floor_refresh()
    if sent and follow_up:
        refresh_floor.apply_async(
            kwargs={"follow_up": False}, countdown=services.FLOOR_WAKER.ttl_ms / 1000
        )
    return sent


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=30)
def sweep_floor() -> int:
    """Beat, every FLOOR_SWEEP_SECONDS: alerts that fire without a write (silence, windows),
    and tiles whose wake-up was lost."""
    return services.floor_sweep() + services.floor_refresh()
