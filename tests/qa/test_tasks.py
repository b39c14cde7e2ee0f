"""The QA tasks beat runs: each safe to run twice, with one effect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.qa import services, tasks
from apps.qa.models import QueueItem, SamplingPolicy
from tests.fixtures import builders
from tests.qa.test_queue import flag_rule, run

pytestmark = pytest.mark.django_db


def test_the_sweep_run_twice_queues_each_open_flag_once(world):
    rule = flag_rule(world.admin)
    run(rule, world.north_call, "one")
    QueueItem.objects.all().delete()
    assert tasks.sweep_qa()["created"] == 1
    assert tasks.sweep_qa()["created"] == 0
    assert QueueItem.objects.count() == 1


def test_running_due_policies_twice_picks_once(world):
    builders.make_conversation(agent=world.agent, started_at=builders.earlier_today(hours=3))
    policy = services.policy_create(
        user=world.admin, data={"name": "Daily", "period": "DAY", "quota_count": 5}
    )
    SamplingPolicy.objects.filter(pk=policy.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1)
    )
    first = tasks.run_sampling_policies()
    second = tasks.run_sampling_policies()
    # This call and the world's two (every call today, five at most per agent).
    assert [r["created"] for r in first] == [3] and second == []
    assert QueueItem.objects.filter(policy=policy).count() == 3
