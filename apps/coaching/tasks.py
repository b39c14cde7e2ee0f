"""Thin tasks over apps.coaching.services; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from .services import actions


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=3000)
def sweep_action_items_due() -> int:
    """Beat, hourly: tell owners of action items that came due (once per item)."""
    return actions.action_items_due_sweep()
