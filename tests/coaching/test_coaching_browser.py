"""Issue 15's "Done when", in a real browser: a coach opens an agent's scorecard, clicks "Coach
on this" for the weakest criterion, links two reviews with pinned lines, adds two action items
and a goal; the agent logs in, acknowledges the session and ticks an action item; the goal shows
its frozen baseline and progress.

Two reviews are few, so ``COACHING_MIN_N`` is lowered to 2 for the scorecard to name a weakest
criterion (the live server runs in this process, so the setting reaches it).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.coaching.models import ActionItem, CoachingSession, EvidencePin, SessionLink
from tests.fixtures import builders
from tests.fixtures import qa as qa_build
from tests.fixtures.browser import MARKS, log_in
from tests.fixtures.coaching_goals import goal_refresh
from tests.fixtures.coaching_sessions import sess_lines, sess_review

pytestmark = MARKS


@pytest.fixture
def agent(transactional_db):
    north = builders.make_team(name="North")
    alice = builders.make_user(username="alice", role=Role.AGENT, teams=[north])
    agent = builders.make_agent(name="Alice", team=north, user=alice)
    builders.make_user(username="cora", role=Role.COACH, teams=[north])
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    version = qa_build.publish_script(admin)
    now = timezone.now()
    calls = []
    for days in (1, 2):
        call = builders.make_conversation(
            agent=agent,
            started_at=now - timedelta(days=days, hours=1),
            texts=[
                ("agent", "hello this is alice"),
                ("customer", "i lost my debit card"),
                ("agent", "how can i help"),
            ],
        )
        # The greeting fails every time; the rest pass: the weakest criterion.
        sess_review(
            version,
            call,
            {"greeting": "NOT_MET", "offer_help": "MET", "verify_identity": "MET"},
            comments={"greeting": "No thanks for calling, no bank name."},
            evidence={"greeting": [sess_lines(call)[0]]},
            when=now - timedelta(days=days),
        )
        calls.append(call)
    goal_refresh(*calls)  # the insights the scorecard and the goal read
    return agent


def test_coach_plans_from_the_scorecard_and_the_agent_acknowledges(
    browser, sync_api, live_server, agent, settings
):
    expect = sync_api.expect
    settings.COACHING_MIN_N = 2

    coach = log_in(browser, live_server, "cora")
    coach.goto(f"{live_server.url}/coaching/agents/{agent.pk}/")
    weakest = coach.locator('[data-testid="weak-criterion"][data-criterion="greeting"]')
    weakest = weakest.get_by_test_id("coach-on-this")
    weakest.click()
    coach.wait_for_url(re.compile(r"/coaching/sessions/new/\?"))
    expect(coach.get_by_test_id("prefill-origin")).to_contain_text("Greeting")
    expect(coach.locator('input[name="reviews"]:checked')).to_have_count(2)
    expect(coach.get_by_test_id("prefill-pin")).to_have_count(2)
    coach.get_by_test_id("save-plan").click()
    coach.wait_for_url(re.compile(r"/coaching/sessions/\d+/$"))
    expect(coach.get_by_test_id("link")).to_have_count(2)
    expect(coach.get_by_test_id("pin")).to_have_count(2)
    expect(coach.get_by_test_id("pin-comment").first).to_contain_text("No thanks for calling")

    for text, owner in (("Say the bank's name first", "Alice (agent)"), ("Send the script", None)):
        form = coach.get_by_test_id("action-form")
        form.locator("#id_action_text").fill(text)
        if owner is None:
            form.locator("#id_action_owner").select_option(index=1)
        form.locator("#id_action_due").fill((timezone.localdate() + timedelta(days=7)).isoformat())
        form.get_by_test_id("add-action").click()
        coach.wait_for_load_state()
    expect(coach.get_by_test_id("action")).to_have_count(2)

    goal = coach.get_by_test_id("goal-form")
    goal.locator('[name="target"]').fill("80")
    goal.locator('button[type="submit"]').click()
    coach.wait_for_load_state()
    expect(coach.get_by_test_id("goal")).to_have_count(1)
    coach.get_by_test_id("hold").click()
    expect(coach.get_by_test_id("session-status")).to_contain_text("Held")

    session = CoachingSession.objects.get()
    assert SessionLink.objects.filter(session=session).count() == 2
    assert EvidencePin.objects.filter(session=session).count() == 2

    # The agent: acknowledges, ticks her action item, reads the goal.
    alice = log_in(browser, live_server, "alice")
    alice.goto(f"{live_server.url}/coaching/sessions/{session.pk}/")
    expect(alice.get_by_test_id("private-notes")).to_have_count(0)
    alice.locator("#id_ack_comment").fill("Thanks, I'll open with the bank's name.")
    alice.get_by_test_id("acknowledge").click()
    expect(alice.get_by_test_id("acknowledgement")).to_contain_text("open with the bank's name")
    mine = alice.get_by_test_id("action").filter(has_text="Say the bank's name first")
    mine.get_by_test_id("tick").click()
    expect(
        alice.get_by_test_id("action").filter(has_text="Say the bank's name first")
    ).to_have_attribute("data-done", "1")
    assert ActionItem.objects.get(text="Say the bank's name first").done_at is not None
    row = alice.get_by_test_id("goal")
    expect(row).to_contain_text("baseline")
    expect(row).to_contain_text("progress", ignore_case=True)
