"""Coaching goals in the demo, set through the services as the demo's coach on the real demo
figures: Linda's AI adherence (met), her QA score from today (not enough data yet), and a few
more for the other agents, so the goals list shows every status the data allows.

Idempotent: a goal already there (same agent, metric and criterion) is not set again; every
demo goal is recomputed at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.choices import Role
from apps.coaching.selectors import goals as goal_selectors
from apps.coaching.selectors import sessions as session_selectors
from apps.coaching.services import goals as goal_services

# (agent, metric, criterion key, target, start: days ago, due: days from today). The demo's calls
# sit on a few days (the latest is yesterday, most within the last week, some ~80 days back): a
# 90-day baseline before a start six days ago holds the older calls, progress the recent ones.
DEMO_GOALS = (
    ("Linda", "AI_ADHERENCE", "", 95.0, 6, 20),
    ("Linda", "QA_SCORE", "", 100.0, 0, 30),
    ("Linda", "CRITERION_PASS", "thanks_for_calling", 100.0, 6, 40),
    ("Michael", "HANDLE_TIME", "", 55.0, 6, 2),
    ("Mary", "SENTIMENT_DELTA", "", 0.5, 6, 2),
    ("David", "QA_SCORE", "", 97.0, 6, 30),
)
BASELINE_DAYS = 90


@dataclass(frozen=True)
class DemoGoals:
    created: int
    statuses: dict[str, str]


def demo_goals_load() -> DemoGoals:
    coach = accounts.users_with_role(roles=[Role.COACH]).filter(username="coach").first()
    if coach is None:
        return DemoGoals(0, {})
    today = timezone.localdate()
    created = 0
    names = {g[0] for g in DEMO_GOALS}
    agents = {
        a.display_name: a for a in accounts.agent_choices(user=coach).filter(display_name__in=names)
    }
    for name, metric, key, target, ago, due in DEMO_GOALS:
        agent = agents.get(name)
        if agent is None:
            continue
        mine = goal_selectors.goal_list(user=coach, agent_id=agent.pk)
        if mine.filter(metric=metric, criterion_key=key).exists():
            continue
        # A criterion's goal belongs to the demo's first held session on that criterion.
        session = (
            session_selectors.session_list(user=coach, agent_id=agent.pk, status="HELD")
            .filter(topics__contains=[key])
            .order_by("scheduled_at")
            .first()
            if key
            else None
        )
        goal_services.goal_set(
            user=coach,
            agent_id=agent.pk,
            metric=metric,
            criterion_key=key,
            target=target,
            start_on=today - timedelta(days=ago),
            due_on=today + timedelta(days=due),
            baseline_days=BASELINE_DAYS,
            session_id=session.pk if session is not None else None,
        )
        created += 1
    statuses: dict[str, str] = {}
    for goal in goal_selectors.goal_list(user=coach).filter(agent__in=agents.values()):
        done = goal_services.goal_recompute(goal_id=goal.pk)
        if done is not None:
            statuses[f"{goal.agent.display_name}: {goal.metric} {goal.criterion_key}".strip()] = (
                done.status
            )
    return DemoGoals(created, statuses)
