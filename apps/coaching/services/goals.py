"""Goals: set one for an agent (its baseline frozen then), edit its target or date, delete it,
and recompute progress and status (one goal, or every open goal set-wise).

The status rule is written once, in ``apps.coaching.selectors.goals`` (module docstring and
``goal_status``); these services store what it decides, set ``met_at`` once with a guarded
UPDATE and tell the agent and the coach then, and only then.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts import services as accounts_services
from apps.accounts.scoping import can_use
from apps.accounts.services import NotificationInput
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.common.tasks import enqueue

from ..choices import GoalStatus, Metric, NotificationKind
from ..models import CoachingSession, Goal
from ..selectors import goals as goal_selectors
from ..selectors import metrics

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

MAX_DAYS = 366
# Goals past their due date are still recomputed this long (reviews arrive late).
GRACE_DAYS = 14


@dataclass(frozen=True)
class Figure:
    value: float | None
    n: int
    low: float | None
    high: float | None


def _figure(sample: metrics.Sample) -> Figure:
    estimate = sample.estimate
    factor = goal_selectors.scale(sample.metric)

    def scaled(v: float | None) -> float | None:
        return None if v is None else v * factor

    return Figure(scaled(estimate.value), estimate.n, scaled(estimate.low), scaled(estimate.high))


def _can_manage(user: Person, agent_id: int) -> bool:
    if not can_use(user, "coaching_manage"):
        return False
    return accounts.agent_choices(user=user).filter(pk=agent_id).exists()


def _validate(
    *,
    metric: str,
    criterion_key: str,
    target: Any,
    start_on: date,
    due_on: Any,
    errors: dict[str, list[str]],
    check_criterion: bool = True,
) -> float | None:
    if metric not in Metric.values:
        errors.setdefault("metric", []).append("Choose a metric.")
        return None
    if metric == Metric.CRITERION_PASS and check_criterion:
        if not criterion_key:
            errors.setdefault("criterion_key", []).append("Choose the criterion.")
        elif criterion_key not in goal_selectors.published_criteria():
            errors.setdefault("criterion_key", []).append("No published rubric has this criterion.")
    try:
        value = float(target)
    except (TypeError, ValueError):
        errors.setdefault("target", []).append("Enter a number.")
        return None
    low, high = goal_selectors.TARGET_RANGES[Metric(metric)]
    if not math.isfinite(value) or not low <= value <= high:
        unit = goal_selectors.UNITS[Metric(metric)]
        errors.setdefault("target", []).append(
            f"Between {low:g} and {high:g}{(' ' + unit) if unit else ''}."
        )
    if not isinstance(due_on, date):
        errors.setdefault("due_on", []).append("Enter the due date.")
    elif due_on <= start_on:
        errors.setdefault("due_on", []).append("The due date comes after the start.")
    elif (due_on - start_on).days > MAX_DAYS:
        errors.setdefault("due_on", []).append("At most a year after the start.")
    return value


@transaction.atomic
def goal_set(
    *,
    user: Person,
    agent_id: int,
    metric: str,
    target: Any,
    due_on: Any,
    start_on: date | None = None,
    criterion_key: str = "",
    session_id: int | None = None,
    baseline_days: int = 30,
) -> Goal:
    """Set a goal for an agent ``user`` may coach. The baseline is the metric over the
    ``baseline_days`` before ``start_on`` (default today), frozen now with its n and interval;
    progress and status follow after commit (``tasks.recompute_goal``)."""
    if not _can_manage(user, agent_id):
        raise PermissionDenied("You may not set goals for this agent.")
    start_on = start_on or timezone.localdate()
    criterion_key = (criterion_key or "").strip() if metric == Metric.CRITERION_PASS else ""
    errors: dict[str, list[str]] = {}
    value = _validate(
        metric=metric,
        criterion_key=criterion_key,
        target=target,
        start_on=start_on,
        due_on=due_on,
        errors=errors,
    )
    if not 7 <= baseline_days <= 365:
        errors.setdefault("baseline_days", []).append("Between 7 and 365 days.")
    session = None
    if session_id is not None:
        session = CoachingSession.objects.for_user(user).filter(pk=session_id).first()
        if session is None or session.agent_id != agent_id:
            errors.setdefault("session", []).append("Not a session with this agent.")
    if errors:
        raise ValidationFailed(errors)
    assert value is not None
    sample = metrics.metric_sample(
        user=metrics.GOAL_READER,
        agent_id=agent_id,
        metric=metric,
        criterion_key=criterion_key,
        start=start_on - timedelta(days=baseline_days),
        end=start_on - timedelta(days=1),
    )
    base = _figure(sample)
    goal = Goal.objects.create(
        agent_id=agent_id,
        session=session,
        metric=metric,
        criterion_key=criterion_key,
        target=value,
        start_on=start_on,
        due_on=due_on,
        baseline_days=baseline_days,
        baseline=base.value,
        baseline_n=base.n,
        baseline_low=base.low,
        baseline_high=base.high,
        created_by_id=getattr(user, "pk", None),
    )
    # Never fails the request: with the broker down the hourly recompute catches up.
    transaction.on_commit(lambda: enqueue("apps.coaching.tasks.recompute_goal", goal.pk))
    return goal


def _manageable(user: Person, goal: Goal) -> Goal:
    found = Goal.objects.for_user(user).filter(pk=goal.pk).first()
    if found is None:
        raise NotFound("No such goal.")
    if not _can_manage(user, found.agent_id):
        raise PermissionDenied("You may not change this goal.")
    return found


@transaction.atomic
def goal_update(*, user: Person, goal: Goal, target: Any = None, due_on: Any = None) -> Goal:
    """Change a goal's target or due date (never its baseline), then recompute its status."""
    goal = _manageable(user, goal)
    errors: dict[str, list[str]] = {}
    value = _validate(
        metric=goal.metric,
        criterion_key=goal.criterion_key,
        target=goal.target if target is None else target,
        start_on=goal.start_on,
        due_on=goal.due_on if due_on is None else due_on,
        errors=errors,
        check_criterion=False,  # not edited (its rubric may since be retired)
    )
    if errors:
        raise ValidationFailed(errors)
    assert value is not None
    goal.target = value
    if due_on is not None:
        goal.due_on = due_on
    goal.save(update_fields=["target", "due_on", "updated_at"])
    return goal_recompute(goal_id=goal.pk) or goal


@transaction.atomic
def goal_delete(*, user: Person, goal: Goal) -> None:
    """Cancel a goal: it is deleted (its figures are the insights', nothing is lost)."""
    goal = _manageable(user, goal)
    Goal.objects.filter(pk=goal.pk).delete()


def _apply(goal: Goal, progress: Figure, *, today: date, now: Any) -> bool:
    """Store ``progress`` and the status it supports; True when the goal was met just now."""
    goal.progress, goal.progress_n = progress.value, progress.n
    goal.progress_low, goal.progress_high = progress.low, progress.high
    reading = goal_selectors.goal_status(goal, today=today)
    goal.status = reading.status
    goal.computed_at = now
    return reading.status == GoalStatus.MET and goal.met_at is None


_FIELDS = [
    "progress",
    "progress_n",
    "progress_low",
    "progress_high",
    "status",
    "computed_at",
    "updated_at",
]


def _store(goals: list[Goal], newly_met: list[Goal], *, now: Any) -> None:
    for goal in goals:
        goal.updated_at = now
    Goal.objects.bulk_update(goals, _FIELDS)
    for goal in newly_met:
        # Once: a second run (or a concurrent one) finds met_at set and tells no one again.
        if Goal.objects.filter(pk=goal.pk, met_at__isnull=True).update(met_at=now) == 1:
            goal.met_at = now
            _notify_met(goal)


def _notify_met(goal: Goal) -> None:
    people = set(accounts.agent_user_ids(agent_ids=[goal.agent_id]).values())
    coach_ids = {goal.created_by_id}
    if goal.session_id is not None:
        coach_ids.add(
            CoachingSession.objects.filter(pk=goal.session_id)
            .values_list("coach_id", flat=True)
            .first()
        )
    people |= {pk for pk in coach_ids if pk}
    label = goal_selectors.metric_label(goal)
    accounts_services.notify(
        user_ids=people,
        notification=NotificationInput(
            kind=NotificationKind.GOAL_MET,
            title=f"Goal met: {label}",
            body=f"{goal.agent.display_name} reached {goal_selectors.fmt(goal.metric, goal.target)}"
            f" (progress {goal_selectors.fmt(goal.metric, goal.progress)}, n = {goal.progress_n}).",
            url=reverse("coaching-goal", args=[goal.pk]),
        ),
    )


@transaction.atomic
def goal_recompute(*, goal_id: int, today: date | None = None) -> Goal | None:
    """Progress (``start_on`` to today, or to ``due_on`` once past) and status of one goal; the
    baseline is never touched. None when the goal is gone."""
    goal = Goal.objects.select_related("agent").filter(pk=goal_id).first()
    if goal is None:
        return None
    today = today or timezone.localdate()
    start, end = goal_selectors.progress_window(goal, today=today)
    if end < start:
        progress = Figure(None, 0, None, None)
    else:
        progress = _figure(
            metrics.metric_sample(
                user=metrics.GOAL_READER,
                agent_id=goal.agent_id,
                metric=goal.metric,
                criterion_key=goal.criterion_key,
                start=start,
                end=end,
            )
        )
    now = timezone.now()
    met = _apply(goal, progress, today=today, now=now)
    _store([goal], [goal] if met else [], now=now)
    return goal


def open_goals(*, today: date) -> Iterable[Goal]:
    """Goals not met yet whose due date is at most ``GRACE_DAYS`` behind."""
    return Goal.objects.select_related("agent").filter(
        met_at__isnull=True, due_on__gte=today - timedelta(days=GRACE_DAYS)
    )


@transaction.atomic
def goals_recompute_open(*, today: date | None = None) -> int:
    """Every open goal, set-wise: the goals of one agent with the same progress window share
    two queries (``metrics.samples`` reads every metric at once). Returns how many were
    recomputed. Safe to run twice: the same figures are stored, met goals are told once."""
    today = today or timezone.localdate()
    groups: dict[tuple[int, date, date], list[Goal]] = defaultdict(list)
    empty: list[Goal] = []
    for goal in open_goals(today=today):
        start, end = goal_selectors.progress_window(goal, today=today)
        if end < start:
            empty.append(goal)
        else:
            groups[(goal.agent_id, start, end)].append(goal)
    now = timezone.now()
    done: list[Goal] = []
    newly_met: list[Goal] = []
    for goal in empty:
        if _apply(goal, Figure(None, 0, None, None), today=today, now=now):
            newly_met.append(goal)
        done.append(goal)
    for (agent_id, start, end), members in groups.items():
        keys = tuple(sorted({g.criterion_key for g in members if g.criterion_key}))
        found = metrics.samples(
            user=metrics.GOAL_READER, agent_id=agent_id, start=start, end=end, criterion_keys=keys
        )
        for goal in members:
            key = goal.criterion_key if goal.metric == Metric.CRITERION_PASS else ""
            sample = found.get((Metric(goal.metric), key), metrics.Sample(goal.metric, 0))
            if _apply(goal, _figure(sample), today=today, now=now):
                newly_met.append(goal)
            done.append(goal)
    if done:
        _store(done, newly_met, now=now)
    return len(done)
