"""A blind calibration in a real browser: an admin starts a session with two QA analysts and the
AI on two calls; each analyst answers from their own queue without seeing the AI or each other;
the answers stay hidden until the admin closes the session; then the results show everyone's
alignment with the benchmark and the criterion they disagreed on most.

Playwright drives the system Chromium against pytest-django's live server (as the other browser
tests); the AI's answers come from the real operators, run the way the demo backfill runs them.
"""

from __future__ import annotations

import re

import pytest

from apps.accounts.choices import Role
from apps.qa.models import CalibrationSession, Review
from tests.fixtures import builders
from tests.fixtures import qa as build
from tests.fixtures.browser import MARKS, log_in

pytestmark = MARKS

CRITERIA = ("greeting", "offer_help", "verify_identity", "confirm_address")


@pytest.fixture
def calls(transactional_db):
    north = builders.make_team(name="North")
    alice = builders.make_user(username="alice", role=Role.AGENT, teams=[north])
    agent = builders.make_agent(name="Alice", team=north, user=alice)
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    builders.make_user(username="quinn", role=Role.QA_ANALYST)
    builders.make_user(username="quentin", role=Role.QA_ANALYST)
    build.publish_script(admin)
    made = [
        builders.make_conversation(
            agent=agent,
            customer_name=name,
            texts=[
                ("agent", "thank you for calling harper valley how can i help"),
                ("customer", "i lost my debit card"),
                ("agent", "i have blocked it and ordered a new one"),
            ],
        )
        for name in ("Nora North", "Nina North")
    ]
    build.judge(*made)
    return made


def answer_all(page, expect, live_server, session_id: int, offer_help: str) -> None:
    """Answer every conversation of the session from its page: all met but ``offer_help``."""
    for _ in range(2):
        page.goto(f"{live_server.url}/qa/calibration/{session_id}/")
        page.get_by_test_id("answer-link").first.click()
        page.wait_for_url(re.compile(r"/qa/reviews/\d+/$"))
        # Blind: no AI suggestion, and nothing prefilled.
        expect(page.get_by_test_id("ai-suggestion")).to_have_count(0)
        for key in CRITERIA:
            criterion = page.locator(f'[data-criterion="HUMAN_AGENT:{key}"]')
            expect(criterion.get_by_test_id("outcome-MET")).not_to_be_checked()
            outcome = offer_help if key == "offer_help" else "MET"
            criterion.locator(f'label[for$="-{outcome}"]').click()
        page.get_by_test_id("submit").first.click()
        expect(page.get_by_test_id("review-status")).to_have_text("Submitted")


def test_a_blind_calibration_with_two_analysts_and_the_ai(browser, sync_api, live_server, calls):
    expect = sync_api.expect

    # The admin starts the session: two calls picked in the picker, two analysts, the AI, blind.
    admin = log_in(browser, live_server, "ada")
    admin.goto(f"{live_server.url}/qa/calibration/")
    expect(admin.get_by_test_id("empty-state")).to_be_visible()
    admin.get_by_test_id("new-calibration").first.click()
    admin.fill("#id_name", "Greeting week")
    admin.select_option("#id_rubric_version", index=1)
    admin.get_by_test_id("picker-filter").fill("nora")
    expect(admin.get_by_test_id("picker-row").filter(has_text="Nina North")).to_be_hidden()
    admin.get_by_label("Nora North").check()
    admin.get_by_test_id("picker-filter").fill("nina")
    admin.get_by_label("Nina North").check()
    expect(admin.get_by_test_id("picked-count")).to_have_text("2 picked")
    for name in ("quinn", "quentin"):
        admin.get_by_test_id("participants").get_by_label(re.compile(name, re.I)).check()
    expect(admin.locator("#id_include_ai")).to_be_checked()
    expect(admin.locator("#id_blind")).to_be_checked()
    admin.get_by_test_id("create-calibration").click()
    admin.wait_for_url(re.compile(r"/qa/calibration/\d+/$"))
    session = CalibrationSession.objects.get()
    expect(admin.get_by_test_id("session-status")).to_have_text("Open")

    # Quinn passes everything; Quentin says the help was never offered.
    quinn = log_in(browser, live_server, "quinn")
    answer_all(quinn, expect, live_server, session.pk, offer_help="MET")
    quentin = log_in(browser, live_server, "quentin")
    answer_all(quentin, expect, live_server, session.pk, offer_help="NOT_MET")

    # While open, neither sees the other's answers: not on the session page, nor by address.
    quinn.goto(f"{live_server.url}/qa/calibration/{session.pk}/")
    expect(quinn.get_by_test_id("results-hidden")).to_be_visible()
    expect(quinn.get_by_test_id("answer-grid")).to_have_count(0)
    expect(quinn.get_by_test_id("progress-count")).to_have_text(["2 of 2", "2 of 2"])
    theirs = Review.objects.filter(calibration=session, reviewer__username="quentin").first()
    response = quinn.goto(f"{live_server.url}/qa/reviews/{theirs.pk}/")
    assert response.status == 404

    # The admin closes it, after a confirmation.
    admin.reload()
    admin.get_by_test_id("close-session").click()
    admin.get_by_test_id("confirm-close").click()
    expect(admin.get_by_test_id("session-status")).to_have_text("Closed")

    # Now everyone sees the results: alignment per rater (the AI too) and the most disputed.
    quinn.goto(f"{live_server.url}/qa/calibration/{session.pk}/")
    expect(quinn.get_by_test_id("session-status")).to_have_text("Closed")
    expect(quinn.get_by_test_id("results-hidden")).to_have_count(0)
    rows = quinn.get_by_test_id("alignment-row")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="The AI")).to_have_count(1)
    expect(quinn.get_by_test_id("most-disputed")).to_contain_text("Offer help")
    disputed = quinn.locator(
        '[data-testid="criterion-agreement"][data-key="HUMAN_AGENT:offer_help"]'
    )
    expect(disputed.get_by_test_id("disputed-badge")).to_be_visible()
    expect(disputed.get_by_test_id("agreement-percent")).not_to_have_text("100%")
    grid_row = quinn.locator('[data-testid="grid-row"][data-key="HUMAN_AGENT:offer_help"]').first
    expect(grid_row).to_have_attribute("data-disputed", "1")
    expect(quinn.get_by_test_id("benchmark-select")).to_have_count(0)
    expect(admin.get_by_test_id("benchmark-select").first).to_be_visible()
