"""The sampling calculator in a real browser, by keyboard: an admin types the precision they
want, sees the reviews per agent at once (the same figure as the API), and puts it into the
policy's quota."""

from __future__ import annotations

import pytest

from apps.accounts.choices import Role
from tests.fixtures import builders
from tests.fixtures.browser import MARKS, log_in

pytestmark = MARKS


@pytest.fixture
def admin(transactional_db):
    builders.make_team(name="North")
    return builders.make_user(username="ada", role=Role.ADMIN)


def test_the_calculator_answers_as_you_type_and_fills_the_quota(
    browser, sync_api, live_server, admin
):
    expect = sync_api.expect
    page = log_in(browser, live_server, "ada")
    page.goto(f"{live_server.url}/qa/policies/new/")
    calculator = page.get_by_test_id("sampling-calculator")
    # No reviews yet: the stated SD of 15 points; ± 5 -> (1.96 * 15 / 5)^2 = 34.6 -> 35
    expect(calculator.get_by_test_id("calc-score")).to_contain_text("35 reviews per agent per week")
    expect(calculator.get_by_test_id("calc-rate")).to_contain_text("385 at worst")

    points = page.get_by_label("QA score within ± (points)")
    points.focus()
    points.press("Control+a")
    page.keyboard.type("3")  # (1.96 * 15 / 3)^2 = 96.04 -> 97
    expect(calculator.get_by_test_id("calc-score")).to_contain_text("97 reviews per agent per week")
    api = page.request.get(f"{live_server.url}/api/qa/sampling-calculator/?points=3").json()
    assert api["score"]["reviews_needed"] == 97

    page.select_option("#id_period", "MONTH")
    expect(calculator.get_by_test_id("calc-score")).to_contain_text("per agent per month")

    points.press("Control+a")
    page.keyboard.type("0")  # not a precision: a clear message, nothing to use
    expect(calculator.get_by_role("alert")).to_contain_text("above 0 and below 100")
    expect(calculator.get_by_test_id("calc-use-score")).to_be_disabled()

    points.press("Control+a")
    page.keyboard.type("4")  # (1.96 * 15 / 4)^2 = 54.02 -> 55
    use = calculator.get_by_test_id("calc-use-score")
    use.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#id_quota_count")).to_have_value("55")
    expect(page.locator("#id_quota_count")).to_be_focused()
    expect(page.locator('input[name="quota_kind"][value="PER_AGENT"]')).to_be_checked()
    expect(calculator).to_contain_text("The quota is now 55 conversations per agent per month")
