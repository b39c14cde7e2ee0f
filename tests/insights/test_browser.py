"""Insights in a real browser: a coach opens the dashboard, narrows the dates, clicks an agent's
cell in the agent x criterion heatmap and lands on exactly the conversations it counted, then
downloads them as CSV.

Playwright drives the system Chromium against pytest-django's live server; the calls are
written through the ingest services and the insights worker's refresh, as in production.
"""

from __future__ import annotations

import csv
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from tests.fixtures import builders
from tests.fixtures import insights as build
from tests.fixtures.browser import MARKS, log_in
from tests.insights.test_facts import HUMAN_GREETS_FIRST

pytestmark = MARKS


def adherence(greeting: str) -> dict:
    return {
        "score": 100 if greeting == "Succeeded" else 50,
        "categories": [{"criteria": [{"criteria_key": "greeting", "criteria_met": greeting}]}],
    }


@pytest.fixture
def calls(transactional_db):
    north = builders.make_team(name="North")
    builders.make_user(username="cora", role=Role.COACH, teams=[north])
    alice = builders.make_agent(name="Alice", team=north)
    builders.make_agent(name="Bert", team=north)
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    recent = today - timedelta(days=2)
    older = today - timedelta(days=20)
    made = {"recent": [], "older": [], "bert": []}
    for start, key, met in (
        (recent, "recent", "Succeeded"),
        (recent + timedelta(hours=1), "recent", "Failed"),
        (recent + timedelta(hours=2), "recent", "Succeeded"),
        (older, "older", "Failed"),
    ):
        call = build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=30, start=start)
        build.twilio_result(call, operator="Script Adherence", result=adherence(met))
        made[key].append(call.pk)
    bert = build.new_call(HUMAN_GREETS_FIRST, human="Bert", close_at=30, start=recent)
    build.twilio_result(bert, operator="Script Adherence", result=adherence("Succeeded"))
    made["bert"].append(bert.pk)
    build.refresh()
    made["alice"] = alice
    made["recent_day"] = timezone.localtime(recent).date()
    return made


def test_a_coach_drills_from_the_heatmap_to_the_conversations_and_downloads_them(
    browser, sync_api, live_server, calls, tmp_path
):
    expect = sync_api.expect
    coach = log_in(browser, live_server, "cora")
    coach.get_by_role("link", name="Insights", exact=True).click()
    coach.wait_for_url(re.compile(r"/insights/$"))
    # The last 30 days by default: all five calls.
    expect(coach.get_by_test_id("kpi-conversations").get_by_test_id("kpi-value")).to_have_text("5")

    # Narrow to the last week: the older call drops out.
    week_start = calls["recent_day"] - timedelta(days=5)
    coach.fill("#f-from", week_start.isoformat())
    coach.get_by_role("button", name="Apply").click()
    coach.wait_for_url(re.compile(rf"from={week_start.isoformat()}"))
    expect(coach.get_by_test_id("kpi-conversations").get_by_test_id("kpi-value")).to_have_text("4")

    # The heatmap, as the AI judged: Alice met the greeting in 2 of her 3 recent calls.
    coach.get_by_role("link", name="Criteria", exact=True).click()
    coach.get_by_role("link", name="AI (script adherence operator)").click()
    cell = coach.locator('[data-testid="heat-cell"][data-agent="Alice"][data-criterion="greeting"]')
    expect(cell).to_contain_text("67%")
    expect(cell).to_contain_text("3")
    cell.click()
    coach.wait_for_url(re.compile(r"/insights/conversations/\?"))
    rows = coach.locator("[data-conversation]")
    expect(rows).to_have_count(3)
    shown = {int(pk) for pk in rows.evaluate_all("els => els.map(e => e.dataset.conversation)")}
    assert shown == set(calls["recent"])  # exactly those: not the older call, not Bert's
    expect(coach.get_by_test_id("result-count")).to_contain_text("3 conversations")

    # The same conversations as CSV.
    with coach.expect_download() as info:
        coach.get_by_test_id("csv").click()
    path = tmp_path / "conversations.csv"
    info.value.save_as(path)
    with path.open() as handle:
        rows_csv = list(csv.DictReader(handle))
    assert {int(r["conversation_id"]) for r in rows_csv} == set(calls["recent"])
    assert {r["agent"] for r in rows_csv} == {"Alice"}


@pytest.fixture
def agent_calls(transactional_db):
    """Two calls the reference virtual agent handed to people: one to Alice (North, the
    supervisor's team), one to Bert (South)."""
    from tests.insights.test_virtual_agent import handed_off_call

    north = builders.make_team(name="North")
    south = builders.make_team(name="South")
    builders.make_user(username="sam", role=Role.SUPERVISOR, teams=[north])
    builders.make_agent(name="Alice", team=north)
    builders.make_agent(name="Bert", team=south)
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    alice = handed_off_call(human="Alice", start=start)
    handed_off_call(human="Bert", start=start + timedelta(hours=1))
    build.refresh()
    return alice


def test_a_supervisor_reads_the_virtual_agent_scoreboard_and_drills_into_a_reason(
    browser, sync_api, live_server, agent_calls
):
    expect = sync_api.expect
    page = log_in(browser, live_server, "sam")
    page.get_by_role("link", name="Insights", exact=True).click()
    page.get_by_role("link", name="AI agent", exact=True).click()
    board = page.get_by_test_id("va-scoreboard")
    expect(board).to_contain_text("1 call")  # Alice's only: Bert is not in the team
    expect(board.get_by_test_id("kpi-va_containment")).to_contain_text("0 of 1")
    expect(board.get_by_test_id("va-latency")).to_contain_text("200.0 ms")
    reasons = board.get_by_test_id("va-reasons")
    expect(reasons).to_contain_text("The caller asked for a person")
    reasons.get_by_role("link", name="1").click()
    page.wait_for_url(re.compile(r"/insights/conversations/\?.*va_reason=asked-for-person"))
    rows = page.locator("[data-conversation]")
    expect(rows).to_have_count(1)
    assert int(rows.first.get_attribute("data-conversation")) == agent_calls.pk
