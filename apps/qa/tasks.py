"""Thin tasks over apps.qa.services; every one is safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ccportal.celery import CeleryQueue

from . import services


@shared_task(queue=CeleryQueue.INSIGHTS, acks_late=True, ignore_result=True, expires=240)
def run_sampling_policies() -> list[dict[str, Any]]:
    """Beat, every five minutes: the policies whose crontab time has come."""
    return [
        {"policy": r.policy_id, "period": r.period, "created": r.created}
        for r in services.policies_run_due()
    ]


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=120)
def sweep_qa() -> dict[str, int]:
    """Beat, every minute: items for open flags that have none, releases that came due."""
    return {**services.queue_flags_sweep(), "released": services.reviews_release_due()}


@shared_task(
    queue=CeleryQueue.INSIGHTS,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=540,
    time_limit=600,
)
def run_impact_preview(preview_id: int) -> str | None:
    """A rubric impact preview (``services.impact_preview_run``); a second delivery of the same
    message finds it no longer QUEUED and does nothing. No expiry: someone is waiting for it."""
    preview = services.impact_preview_run(preview_id=preview_id)
    return preview.status if preview is not None else None
