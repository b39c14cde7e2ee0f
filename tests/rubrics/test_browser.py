"""An admin builds, fixes and publishes a rubric in a real browser; an agent is turned away.

Playwright drives the system Chromium against pytest-django's live server. The editor's
script (add, reorder and renumber fields, live weight totals) runs for real here.
"""

from __future__ import annotations

import re

from apps.accounts.choices import Role
from apps.rubrics import selectors
from apps.rubrics.models import Rubric
from tests.fixtures import builders
from tests.fixtures.browser import MARKS, log_in
from tests.fixtures.rubrics import make_rubric

pytestmark = MARKS

SECTIONS = [  # name, criterion, weight: 30 + 30 + 20 + 10 = 90
    ("Opening", "Greets the caller", "30"),
    ("Verification", "Verifies identity", "30"),
    ("Resolution", "Resolves the request", "20"),
    ("Closing", "Offers more help", "10"),
]


def test_admin_builds_fixes_and_publishes_a_rubric_and_an_agent_is_refused(
    browser, live_server, transactional_db
):
    builders.make_user(username="ada", role=Role.ADMIN)
    builders.make_user(username="alice", role=Role.AGENT)
    page = log_in(browser, live_server, "ada")

    # From the navigation to the empty list, and its call to action.
    page.get_by_role("link", name="Rubrics").click()
    page.get_by_test_id("empty-rubrics").get_by_role("link", name="New rubric").click()
    page.fill("#id_name", "Card services")
    page.fill("#id_description", "Lost and stolen cards")
    page.get_by_role("button", name="Create rubric").click()
    page.wait_for_url(re.compile(r"/rubrics/\d+/v1/edit/$"))
    editor = page.get_by_test_id("rubric-editor")
    page.wait_for_selector("[data-rubric-editor][data-ready]")

    # Four sections, each with the criterion a new section comes with.
    for name, criterion, weight in SECTIONS:
        page.get_by_test_id("add-section").click()
        section = editor.get_by_test_id("section-editor").last
        section.get_by_label("Section name").fill(name)
        section.get_by_label("Weight", exact=True).fill(weight)
        section.get_by_test_id("criterion-editor").last.get_by_label("Name").fill(criterion)
    assert editor.get_by_test_id("section-editor").count() == 4
    assert page.get_by_test_id("weights-total-value").inner_text() == "90%"

    # Reorder: Closing up above Resolution, then back down, by the buttons.
    closing = editor.get_by_test_id("section-editor").nth(3)
    closing.get_by_role("button", name="Move section up").click()
    assert editor.get_by_test_id("section-editor").nth(2).get_by_label(
        "Section name"
    ).input_value() == ("Closing")
    editor.get_by_test_id("section-editor").nth(2).get_by_role(
        "button", name="Move section down"
    ).click()
    names = [
        s.get_by_label("Section name").input_value()
        for s in editor.get_by_test_id("section-editor").all()
    ]
    assert names == [name for name, _, _ in SECTIONS]

    # Saving with weights totalling 90%: the draft is kept, the message sits by the weights.
    page.get_by_test_id("save").click()
    page.wait_for_load_state()
    weights_error = page.get_by_test_id("weights-total").get_by_test_id("weights-error")
    assert "Section weights total 90%; they must total 100%." in weights_error.inner_text()
    assert "Section weights total 90%" in page.get_by_test_id("error-summary").inner_text()
    sections = editor.get_by_test_id("section-editor")
    assert [s.get_by_label("Section name").input_value() for s in sections.all()] == [
        name for name, _, _ in SECTIONS
    ]
    first_weight = sections.nth(0).get_by_label("Weight", exact=True)
    assert "is-invalid" in (first_weight.get_attribute("class") or "")

    # Fix: Opening 40% makes 100%; save, and nothing is left to fix.
    first_weight.fill("40")
    assert page.get_by_test_id("weights-total-value").inner_text() == "100%"
    page.get_by_test_id("save").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("weights-error").count() == 0
    assert page.get_by_test_id("error-summary").count() == 0
    assert sections.nth(0).get_by_label("Weight", exact=True).input_value() == "40"

    # Publish, through the confirmation.
    page.get_by_test_id("save-publish").click()
    page.wait_for_url(re.compile(r"/v1/publish/$"))
    page.get_by_test_id("confirm-button").click()
    page.wait_for_url(re.compile(r"/rubrics/\d+/v1/$"))
    version_url = page.url
    assert page.get_by_test_id("version-status").inner_text().strip() == "Published"
    structure = page.get_by_test_id("structure")
    assert structure.get_by_test_id("section-view").count() == 4
    assert "Opening" in structure.inner_text()
    assert "40%" in structure.inner_text()
    assert page.locator("#main input:not([type=hidden]), #main textarea, #main select").count() == 0
    rubric = Rubric.objects.get()
    assert rubric.versions.get().status == "PUBLISHED"

    # An agent who opens the same page gets the access-denied page.
    agent_page = log_in(browser, live_server, "alice")
    response = agent_page.goto(version_url)
    assert response.status == 403
    assert "You don't have access to this page" in agent_page.content()
    assert agent_page.get_by_role("link", name="Rubrics").count() == 0


def test_criteria_and_phrases_move_and_save_in_the_order_shown(
    browser, live_server, transactional_db
):
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    rubric, _ = make_rubric(actor=admin, name="Card services")  # opening: 2, resolution: 3
    page = log_in(browser, live_server, "ada")
    page.goto(f"{live_server.url}/rubrics/{rubric.pk}/v1/edit/")
    page.wait_for_selector("[data-rubric-editor][data-ready]")
    sections = page.get_by_test_id("section-editor")

    # "Verify identity", last of the opening, goes down into the resolution, then to its end.
    verify = sections.nth(0).get_by_test_id("criterion-editor").nth(1)
    verify.get_by_role("button", name="Move criterion down").click()
    moved = sections.nth(1).get_by_test_id("criterion-editor").nth(0)
    assert moved.get_by_label("Name").input_value() == "Verify identity"
    for _ in range(3):
        moved = (
            sections.nth(1)
            .get_by_test_id("criterion-editor")
            .filter(has=page.locator("[data-criterion-title]", has_text="Verify identity"))
        )
        moved.get_by_role("button", name="Move criterion down").click()
    assert moved.get_by_role("button", name="Move criterion down").is_disabled()

    # A second phrase for the greeting, an emptied phrase row, and a removed criterion.
    greeting = sections.nth(0).get_by_test_id("criterion-editor").nth(0)
    greeting.get_by_role("button", name="Add phrase").click()
    greeting.get_by_label("Phrase", exact=True).last.fill("my name is {agent_name}")
    greeting.get_by_label("Tolerance", exact=True).last.fill("90")
    greeting.get_by_role("button", name="Add phrase").click()  # left empty: dropped
    sections.nth(1).get_by_test_id("criterion-editor").filter(
        has=page.locator("[data-criterion-title]", has_text="Mention app")
    ).get_by_role("button", name="Remove criterion").click()
    # An informational criterion carries no weight: its weight field is switched off.
    kind = sections.nth(1).get_by_test_id("criterion-editor").nth(0).get_by_label("Kind")
    kind.select_option("INFORMATIONAL")
    assert (
        sections.nth(1)
        .get_by_test_id("criterion-editor")
        .nth(0)
        .get_by_label("Relative weight")
        .is_disabled()
    )
    kind.select_option("SCORED")
    page.get_by_test_id("save").click()
    page.wait_for_load_state()

    data = selectors.version_data(version=rubric.versions.get())
    assert [[c["key"] for c in s["criteria"]] for s in data["sections"]] == [
        ["greeting"],
        ["offer_replacement_card", "confirm_address", "verify_identity"],
    ]
    assert data["sections"][0]["criteria"][0]["required_phrases"] == [
        {"text": "thank you for calling", "tolerance": 80},
        {"text": "my name is {agent_name}", "tolerance": 90},
    ]
