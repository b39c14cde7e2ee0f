"""The QA workflow in a real browser: an analyst claims the next conversation, keeps and changes
the AI's answers with the keyboard alone and submits; the agent reads the review, acknowledges
it and disputes one criterion; an admin accepts the dispute, and the score and the history show
both revisions.

Playwright drives the system Chromium against pytest-django's live server (as the other browser
tests). The AI's answers come from the real operators, run the way the demo backfill runs them.
"""

from __future__ import annotations

import re

import pytest

from apps.accounts.choices import Role
from apps.qa.models import Review
from tests.fixtures import builders
from tests.fixtures import qa as build
from tests.fixtures.browser import MARKS, log_in

pytestmark = MARKS


@pytest.fixture
def call(transactional_db):
    north = builders.make_team(name="North")
    alice = builders.make_user(username="alice", role=Role.AGENT, teams=[north])
    agent = builders.make_agent(name="Alice", team=north, user=alice)
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    builders.make_user(username="quinn", role=Role.QA_ANALYST)
    build.publish_script(admin)
    conversation = builders.make_conversation(
        agent=agent,
        customer_name="Nora North",
        texts=[
            ("agent", "thank you for calling harper valley how can i help"),
            ("customer", "i lost my debit card"),
            ("agent", "i have blocked it and ordered a new one"),
        ],
    )
    build.judge(conversation)
    build.manual_item(conversation, reason="Customer asked for a callback")
    return conversation


def test_review_acknowledge_dispute_and_decide(browser, sync_api, live_server, call):
    expect = sync_api.expect

    # The analyst: queue → claim next → the review page, prefilled by the AI with evidence.
    analyst = log_in(browser, live_server, "quinn")
    analyst.get_by_role("link", name="QA", exact=True).click()
    analyst.wait_for_url(re.compile(r"/qa/$"))
    expect(analyst.get_by_test_id("tab-pool")).to_contain_text("1")
    analyst.get_by_test_id("claim-next").click()
    analyst.wait_for_url(re.compile(r"/qa/reviews/\d+/$"))
    greeting = analyst.locator('[data-criterion="HUMAN_AGENT:greeting"]')
    expect(greeting.get_by_test_id("ai-suggestion")).to_contain_text("AI: Met")
    expect(greeting.get_by_test_id("ai-evidence")).to_contain_text("thank you for calling")
    expect(greeting.get_by_test_id("outcome-MET")).to_be_checked()
    expect(analyst.get_by_test_id("score")).to_have_text("100.0")

    # Keyboard only. The form starts on the first criterion the AI left open.
    verify = analyst.locator('[data-criterion="HUMAN_AGENT:verify_identity"]')
    expect(verify).to_have_class(re.compile(r"\bactive\b"))
    analyst.keyboard.press("1")  # verify identity: met
    analyst.keyboard.press("j")
    analyst.keyboard.press("3")  # confirm address: N/A
    for _ in range(3):
        analyst.keyboard.press("k")
    expect(greeting).to_have_class(re.compile(r"\bactive\b"))
    analyst.keyboard.press("2")  # the greeting: not met, against the AI
    expect(greeting.get_by_test_id("override-note")).to_be_visible()
    analyst.keyboard.press("c")
    analyst.keyboard.type("The bank's name came after the thanks, too fast to follow.")
    analyst.keyboard.press("Escape")
    expect(analyst.get_by_test_id("save-status")).to_contain_text("Saved")
    # The critical step and the opening: 40 x 1/2 + 60 = 80, by the rubric's own maths.
    expect(analyst.get_by_test_id("score")).to_have_text("80.0")
    analyst.keyboard.press("?")
    expect(analyst.locator("dialog[data-shortcuts]")).to_be_visible()
    analyst.keyboard.press("Escape")
    analyst.keyboard.press("Control+Enter")
    expect(analyst.get_by_test_id("review-status")).to_have_text("Submitted")
    review = Review.objects.get()
    assert review.score == 80
    greeting_answer = review.current_revision.answers.get(criterion_key="greeting")
    assert (greeting_answer.outcome, greeting_answer.ai_outcome) == ("NOT_MET", "MET")

    # The agent: told under the bell, reads the review, acknowledges it, disputes the greeting.
    agent = log_in(browser, live_server, "alice")
    expect(agent.get_by_test_id("unread-count")).to_have_text("1")
    agent.get_by_role("link", name="My reviews").click()
    agent.get_by_test_id("review-row").get_by_role("link").first.click()
    expect(agent.get_by_test_id("score")).to_have_text("80.0")
    expect(
        agent.locator('[data-criterion="HUMAN_AGENT:greeting"]').get_by_test_id("comment")
    ).to_contain_text("too fast")
    agent.get_by_test_id("acknowledge").click()
    expect(agent.get_by_test_id("acknowledgement")).to_be_visible()
    agent.get_by_test_id("dispute-open").click()
    row = agent.locator('[data-testid="dispute-row"][data-key="HUMAN_AGENT:greeting"]')
    row.get_by_role("checkbox").check()
    row.get_by_role("combobox").select_option("MET")
    agent.fill("#id_dispute_reason", "I named the bank in the same sentence.")
    agent.get_by_test_id("send-dispute").click()
    expect(agent.get_by_test_id("dispute-status")).to_have_text("Open")

    # The admin (not the reviewer) accepts it: revision 2, the score back to 100.
    admin = log_in(browser, live_server, "ada")
    admin.goto(f"{live_server.url}/qa/disputes/")
    admin.get_by_test_id("dispute-row").get_by_role("link").click()
    admin.get_by_test_id("decision-reason").fill("Listened again: the name is there.")
    admin.get_by_test_id("accept").click()
    expect(admin.get_by_test_id("dispute-status")).to_have_text("Accepted")
    expect(admin.get_by_test_id("score")).to_have_text("100.0")
    revisions = admin.get_by_test_id("revision")
    expect(revisions).to_have_count(2)
    expect(revisions.nth(0).get_by_test_id("revision-score")).to_have_text("80.0%")
    expect(revisions.nth(1).get_by_test_id("revision-score")).to_have_text("100.0%")
    expect(revisions.nth(1)).to_contain_text("Dispute decided")
