"""Issue 15's "pages make a constant number of queries (10 vs 1,000 sessions)", literally: the
coaching pages with ten sessions (each with an action item and a goal) and with a thousand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.coaching.choices import Metric, SessionStatus
from apps.coaching.models import ActionItem, CoachingSession, Goal
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db


def _add(world, count: int) -> None:
    """``count`` sessions of the world's agent with the coach, half held, each with an action
    item and a goal (rows written directly: the services are tested elsewhere)."""
    now = timezone.now()
    today = timezone.localdate()
    sessions = CoachingSession.objects.bulk_create(
        CoachingSession(
            agent=world.agent,
            coach=world.coach,
            title=f"Session {i}",
            scheduled_at=now - timedelta(hours=i),
            status=SessionStatus.HELD if i % 2 else SessionStatus.PLANNED,
            held_at=now - timedelta(hours=i) if i % 2 else None,
            topics=["greeting"],
        )
        for i in range(count)
    )
    ActionItem.objects.bulk_create(
        ActionItem(agent=world.agent, session=s, owner=world.agent_user, text=f"Do {s.title}",
                   due_on=today - timedelta(days=1))
        for s in sessions
    )  # fmt: skip
    Goal.objects.bulk_create(
        Goal(agent=world.agent, session=s, metric=Metric.QA_SCORE, target=90.0,
             start_on=today, due_on=today + timedelta(days=30))
        for s in sessions
    )  # fmt: skip


def test_the_coaching_pages_cost_the_same_with_ten_or_a_thousand_sessions(world, client_for):
    coach = client_for(world.coach)
    agent = client_for(world.agent_user)
    _add(world, 10)
    first = CoachingSession.objects.order_by("pk").first()
    pages = [
        (coach, reverse("coaching-home")),
        (coach, reverse("coaching-agent", args=[world.agent.pk])),
        (coach, reverse("coaching-sessions")),
        (coach, reverse("coaching-goals")),
        (coach, reverse("coaching-session", args=[first.pk])),
        (agent, reverse("coaching-sessions")),
        (agent, reverse("coaching-agent", args=[world.agent.pk])),
        (coach, "/api/coaching/sessions/"),
        (coach, "/api/coaching/agents/"),
        (coach, "/api/coaching/goals/"),
        (coach, "/api/coaching/action-items/"),
        (agent, "/api/coaching/goals/"),
    ]
    ten = [queries_for(client, url) for client, url in pages]
    _add(world, 990)
    assert CoachingSession.objects.count() == 1000
    thousand = [queries_for(client, url) for client, url in pages]
    assert ten == thousand
