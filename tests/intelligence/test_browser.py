"""An admin builds a classifier and a rule in a real browser, runs it on a call and reads the
result on the conversation page; an agent is turned away from the operator pages.

Playwright drives the system Chromium against pytest-django's live server, as in
``tests/rubrics/test_browser.py``. No worker runs here: the test drains the pending executions
itself, where a Celery worker would in production.
"""

from __future__ import annotations

import re

import pytest

from apps.accounts.choices import Role
from apps.intelligence import services
from apps.intelligence.models import Operator, Rule, RuleExecution
from tests.fixtures import builders
from tests.fixtures.browser import MARKS, log_in

pytestmark = MARKS

BROKEN_PARAMETERS = '{"labels": [{"label": "card", "regex": ["(lost"]}], "default_label": "other"}'
FIXED_PARAMETERS = '{"labels": [{"label": "card", "keywords": ["card"]}], "default_label": "other"}'
REASON = "Customer reports a card problem"


@pytest.fixture
def people(transactional_db):
    """The built-in operators and default rules (a flush removes them), an admin, and an agent
    of the north team with one call in which the customer lost a card."""
    services.defaults_ensure()
    north = builders.make_team(name="North")
    agent_user = builders.make_user(username="alice", role=Role.AGENT, teams=[north])
    agent = builders.make_agent(name="Alice", team=north, user=agent_user)
    builders.make_user(username="ada", role=Role.ADMIN)
    call = builders.make_conversation(
        agent=agent,
        customer_name="Nora North",
        texts=[
            ("agent", "thank you for calling harper valley"),
            ("customer", "i lost my debit card"),
        ],
    )
    return call


def test_admin_fixes_a_classifier_builds_a_flagging_rule_and_runs_it_on_a_call(
    browser, sync_api, live_server, people
):
    expect = sync_api.expect
    call = people
    page = log_in(browser, live_server, "ada")

    # Rules > Language operators > New operator > Classifier.
    page.get_by_role("link", name="Rules", exact=True).click()
    page.wait_for_url(re.compile(r"/rules/$"))
    page.get_by_role("link", name="Language operators").click()
    page.wait_for_url(re.compile(r"/operators/$"))
    page.get_by_test_id("new-operator").click()
    page.get_by_test_id("kinds").get_by_role("link", name=re.compile("^Classifier")).click()
    page.wait_for_url(re.compile(r"/operators/new/\?kind=CLASSIFIER$"))

    # An invalid regular expression: refused, the message names its path, nothing typed lost.
    page.fill("#id_name", "Card reason")
    page.fill("#id_parameters", BROKEN_PARAMETERS)
    page.get_by_role("button", name="Create operator").click()
    expect(page.get_by_test_id("form-errors")).to_contain_text("Nothing was saved.")
    problem = page.locator("[data-testid=field-error][data-field=parameters]")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text(re.compile(r"^\s*labels\[0\]\.regex\[0\]: "))
    # The message sits next to the textarea (same form group), which is marked invalid.
    group = page.locator(".mb-3", has=page.locator("#id_parameters"))
    expect(group.get_by_test_id("field-error")).to_have_count(1)
    expect(page.locator("#id_parameters")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#id_parameters")).to_have_value(BROKEN_PARAMETERS)
    expect(page.locator("#id_name")).to_have_value("Card reason")
    assert not Operator.objects.filter(is_builtin=False).exists()

    # Fixed with a keyword: saved as version 1.
    page.fill("#id_parameters", FIXED_PARAMETERS)
    page.get_by_role("button", name="Create operator").click()
    page.wait_for_url(re.compile(r"/operators/\d+/$"))
    expect(page.get_by_test_id("operator-name")).to_have_text("Card reason")
    expect(page.get_by_test_id("operator-state")).to_have_text("On")
    expect(page.get_by_test_id("version-row")).to_have_count(1)
    expect(page.get_by_test_id("version-row")).to_have_attribute("data-number", "1")
    expect(page.get_by_test_id("version-row")).to_contain_text("Version 1")
    expect(page.locator("header")).to_contain_text("version 1 in use")
    expect(page.get_by_test_id("version-parameters")).to_contain_text('"keywords"')

    # Rules > New rule: on demand, that operator, a QA flag when its label is "card".
    page.get_by_role("link", name="Rules", exact=True).click()
    page.get_by_test_id("new-rule").click()
    page.wait_for_url(re.compile(r"/rules/new/$"))
    page.fill("#id_name", "Card issues")
    page.get_by_label("Runs", exact=True).select_option(label="Every N communications")
    expect(page.locator("#id_every_n")).to_be_visible()
    page.get_by_label("Runs", exact=True).select_option(label="Only on demand")
    expect(page.locator("#id_every_n")).to_be_hidden()  # N only means something per message
    choice = page.get_by_test_id("operator-choice").filter(has_text="Card reason")
    choice.get_by_role("checkbox").check()
    expect(page.locator("#id_flag_field")).to_be_hidden()  # the condition shows with the flag
    page.get_by_label("Raise a flag for QA review").check()
    expect(page.locator("#id_flag_field")).to_be_visible()
    page.locator("#id_flag_operator").select_option(label="Card reason")
    page.locator("#id_flag_field").fill("label")
    page.locator("#id_flag_op").select_option(label="equals")
    page.locator("#id_flag_value").fill("card")
    page.locator("#id_flag_reason").fill(REASON)
    page.get_by_test_id("save-rule").click()
    page.wait_for_url(re.compile(r"/rules/\d+/$"))
    expect(page.get_by_test_id("rule-name")).to_have_text("Card issues")
    expect(page.get_by_test_id("rule-state")).to_have_text("On")
    expect(page.get_by_test_id("rule-trigger")).to_have_text("Only on demand")
    expect(page.get_by_test_id("rule-operators").get_by_role("listitem")).to_have_count(1)
    expect(page.get_by_test_id("rule-operators")).to_contain_text("Card reason")
    expect(page.get_by_test_id("rule-flag")).to_contain_text("“label” equals “card”")
    expect(page.get_by_test_id("rule-flag")).to_contain_text(f"reason “{REASON}”")
    expect(page.get_by_test_id("no-executions")).to_be_visible()

    # Run now on the call: the conversation page opens, the execution waits for a worker.
    page.get_by_test_id("run-form").get_by_label("Conversation id").fill(str(call.pk))
    page.get_by_test_id("run-button").click()
    page.wait_for_url(re.compile(rf"/conversations/{call.pk}/$"))
    expect(page.get_by_text("is running on this conversation")).to_be_visible()
    expect(page.get_by_test_id("results-empty")).to_be_visible()
    execution = RuleExecution.objects.get(rule=Rule.objects.get(name="Card issues"))
    assert execution.status == "PENDING"

    # A worker runs it; on the reloaded page: the classifier's result, and the open flag.
    assert services.executions_drain(max_seconds=10) == 1
    page.reload()
    results = page.get_by_test_id("operator-results")
    row = results.get_by_test_id("result-row").filter(
        has=page.get_by_role("rowheader", name="Card reason")
    )
    expect(row).to_have_count(1)
    expect(row.locator("tr.result-main")).to_contain_text("v1")
    expect(row.locator("tr.result-main")).to_contain_text("OK")
    expect(row.locator("tr.result-main")).to_contain_text("Card issues")
    row.get_by_text("Output of Card reason").click()
    expect(row.locator("pre code").first).to_contain_text(re.compile(r'"label":\s*"card"'))
    flag = page.get_by_test_id("insights-flags").get_by_test_id("insights-flag")
    expect(flag).to_have_count(1)
    expect(flag).to_contain_text(REASON)
    expect(flag).to_contain_text("Rule: Card issues")

    # The rule page lists the execution as succeeded.
    page.goto(f"{live_server.url}/intelligence/rules/{execution.rule_id}/")
    expect(page.get_by_test_id("execution-status")).to_have_text("Succeeded")


def test_an_agent_gets_403_on_the_operators_page(browser, live_server, people):
    page = log_in(browser, live_server, "alice")
    response = page.goto(f"{live_server.url}/intelligence/operators/")
    assert response.status == 403
    assert "You don't have access to this page" in page.content()
    assert page.get_by_role("link", name="Rules", exact=True).count() == 0
