"""Thin tasks over apps.coaching.services; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ccportal.celery import CeleryQueue

from .services import actions, goals


@shared_task(queue=CeleryQueue.INSIGHTS, acks_late=True, ignore_result=True, expires=3600)
def recompute_goal(goal_id: int) -> str | None:
    """A goal was set or changed: its progress and status (None when it is gone)."""
    goal = goals.goal_recompute(goal_id=goal_id)
    return goal.status if goal is not None else None


@shared_task(
    queue=CeleryQueue.INSIGHTS, acks_late=True, ignore_result=True, time_limit=1800, expires=3000
)
def recompute_goals() -> int:
    """Beat, hourly: every open goal's progress and status (met goals are told once)."""
    return goals.goals_recompute_open()


@shared_task(queue=CeleryQueue.DEFAULT, acks_late=True, ignore_result=True, expires=3000)
def sweep_action_items_due() -> int:
    """Beat, hourly: tell owners of action items that came due (once per item)."""
    return actions.action_items_due_sweep()
