"""Thin tasks over apps.qa.services; every one is safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.rubrics import selectors as rubrics
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
    queue=CeleryQueue.INSIGHTS, acks_late=True, ignore_result=True, time_limit=600, expires=3600
)
def recompute_trust(version_id: int) -> dict[str, Any] | None:
    """After reviews are submitted or disputes decided (debounced): the trust tiers of the
    version's criteria."""
    services.trust_pending_clear(version_id=version_id)
    version = rubrics.version_by_id(pk=version_id)
    if version is None:
        return None
    done = services.trust_recompute(version=version)
    return {"version": version_id, "changes": len(done.changes)}


@shared_task(
    queue=CeleryQueue.INSIGHTS, acks_late=True, ignore_result=True, time_limit=1800, expires=3000
)
def recompute_trust_all() -> list[dict[str, Any]]:
    """Beat, hourly: every published or retired version's tiers (the safety net of the
    debounced runs)."""
    return [
        {"version": r.version_id, "changes": len(r.changes)} for r in services.trust_recompute_all()
    ]


@shared_task(
    queue=CeleryQueue.INSIGHTS, acks_late=True, ignore_result=True, time_limit=1800, expires=3600
)
def recompute_ai_scores(version_id: int) -> int:
    """A version's tiers changed: its AI scores again."""
    return services.ai_scores_recompute(version_id=version_id)


@shared_task(queue=CeleryQueue.INSIGHTS, acks_late=True, ignore_result=True, expires=240)
def sweep_ai_scores() -> int:
    """Beat, every five minutes: closed conversations with an adherence result and no AI score."""
    return services.ai_scores_sweep()


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
