"""Twilio Script Adherence scripts: import (with line-numbered errors) and export."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.rubrics.choices import AuditAction, VersionStatus, Weighting
from apps.rubrics.imports import rubric_import
from apps.rubrics.models import Criterion, Rubric, RubricAuditEntry, RubricVersion, Section
from apps.rubrics.scripttext import ScriptInvalid, export_script, parse_script
from apps.rubrics.selectors import version_data, version_structure
from apps.rubrics.structure import structure_from_data
from apps.rubrics.validation import clean_structure
from tests.fixtures.rubrics import card_services, make_rubric

TUTORIAL = """\
Category: Greeting
Goal: Make the customer feel welcome.
Action: Greet the customer with business name and agent name.
Required Phrase: "Thanks for contacting {company name}. This is {agent_name}."
Score weight:10%

Category: Verification
Action: Verify the customer's identity before discussing the account.
Score weight: 20%

Category: Resolution
Action: Resolve the customer's request.
- confirm_request: Repeat the request back to the customer.
- offer_assistance: The agent should offer assistance with anything else.
Score weight: 40%

Category: Closing
Action: Thank the customer and close the call.
Score weight: 30%
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ScriptInvalid) as caught:
        parse_script(text)
    return [str(error) for error in caught.value.errors]


def structure_of(text: str):
    return structure_from_data(parse_script(text))


# The tutorial script --------------------------------------------------------------------------


def test_tutorial_script_imports_as_four_sections_weighted_10_20_40_30():
    data = parse_script(TUTORIAL)
    assert data["weighting"] == Weighting.BY_SECTION
    assert [(s["key"], s["name"], s["weight"]) for s in data["sections"]] == [
        ("greeting", "Greeting", Decimal("10")),
        ("verification", "Verification", Decimal("20")),
        ("resolution", "Resolution", Decimal("40")),
        ("closing", "Closing", Decimal("30")),
    ]


def test_tutorial_goal_becomes_the_section_description():
    assert parse_script(TUTORIAL)["sections"][0]["description"] == (
        "Make the customer feel welcome."
    )


def test_tutorial_action_becomes_an_action_criterion_with_the_required_phrase():
    greeting = parse_script(TUTORIAL)["sections"][0]
    [action] = greeting["criteria"]
    assert action["key"] == "greeting_action"
    assert action["name"] == "Action"
    assert action["expected_action"] == "Greet the customer with business name and agent name."
    assert action["required_phrases"] == [
        {"text": "Thanks for contacting {company name}. This is {agent_name}.", "tolerance": 85}
    ]


def test_criteria_lines_become_criteria_after_the_action():
    resolution = parse_script(TUTORIAL)["sections"][2]
    assert [(c["key"], c["name"], c["description"]) for c in resolution["criteria"]] == [
        ("resolution_action", "Action", ""),
        ("confirm_request", "Confirm request", "Repeat the request back to the customer."),
        (
            "offer_assistance",
            "Offer assistance",
            "The agent should offer assistance with anything else.",
        ),
    ]


def test_imported_tutorial_is_publishable():
    _, errors = clean_structure(parse_script(TUTORIAL), publishing=True)
    assert errors == {}


# Variations -----------------------------------------------------------------------------------


def test_labels_are_case_insensitive_and_weights_take_spaces_comments_and_crlf():
    text = (
        "# our script\r\n"
        "CATEGORY: Greeting\r\n"
        "  action:   Greet the caller.\r\n"
        "score WEIGHT: 25 %\r\n"
        "\r\n"
        "   # a comment inside\r\n"
        "category: Closing\r\n"
        "ACTION: Say goodbye.\r\n"
        "Weight: 75%\r\n"
    )
    data = parse_script(text)
    assert [(s["key"], s["weight"]) for s in data["sections"]] == [
        ("greeting", Decimal("25")),
        ("closing", Decimal("75")),
    ]
    assert data["sections"][0]["criteria"][0]["expected_action"] == "Greet the caller."


def test_several_required_phrases_quoted_or_not():
    data = parse_script(
        "Category: Greeting\n"
        "Action: Greet.\n"
        'Required Phrase: "Thank you for calling"\n'
        "required phrase: my name is\n"
        "Required Phrases: \u201cHow can I help?\u201d\n"
    )
    phrases = data["sections"][0]["criteria"][0]["required_phrases"]
    assert [p["text"] for p in phrases] == [
        "Thank you for calling",
        "my name is",
        "How can I help?",
    ]


def test_official_form_without_actions_or_weights_shares_100_percent_equally():
    data = parse_script(
        "Category: Greeting\n"
        "- greet_customer: The agent greets the customer.\n"
        "Category: Verification\n"
        "- verify_identity: The agent verifies the customer's identity.\n"
        "Category: Closing\n"
        "- offer_assistance: The agent should offer assistance with anything else.\n"
    )
    assert [s["weight"] for s in data["sections"]] == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]
    assert [c["key"] for s in data["sections"] for c in s["criteria"]] == [
        "greet_customer",
        "verify_identity",
        "offer_assistance",
    ]


def test_category_names_become_normalised_keys():
    data = parse_script("Category: Move Details\nAction: Ask for the new address.\n")
    assert data["sections"][0]["key"] == "move_details"
    assert data["sections"][0]["criteria"][0]["key"] == "move_details_action"


def test_a_criteria_key_repeated_in_another_category_gets_the_section_prefix():
    data = parse_script(
        "Category: Opening\n- confirm: Confirm the reason.\n"
        "Category: Closing\n- confirm: Confirm the resolution.\n"
    )
    assert [c["key"] for s in data["sections"] for c in s["criteria"]] == [
        "confirm",
        "closing_confirm",
    ]


# Errors -----------------------------------------------------------------------------------------


def test_weight_that_is_not_a_percentage_is_reported_with_its_line():
    text = "Category: Greeting\nAction: Greet.\n\n\n\n\nScore weight: ten\n"
    assert errors_of(text) == ["line 7: 'Score weight' must be a percentage like 10%"]


def test_action_before_any_category_is_reported_with_its_line():
    text = "# script\n\nAction: Greet.\nCategory: Greeting\nAction: Greet.\n"
    assert errors_of(text) == ["line 3: 'Action:' before any 'Category:'"]


def test_unknown_label_is_reported_with_its_line():
    text = "Category: Greeting\nAction: Greet.\nTone: friendly\n"
    assert errors_of(text) == [
        "line 3: unknown label 'Tone'; expected Category, Goal, Action, Required Phrase or "
        "Score weight"
    ]


def test_weight_over_100_is_reported_with_its_line():
    text = "Category: Greeting\nAction: Greet.\nScore weight: 120%\n"
    assert errors_of(text) == ["line 3: 'Score weight' is 120%; it can be at most 100%"]


def test_duplicate_category_is_reported_with_both_lines():
    text = "Category: Greeting\nAction: Greet.\nCategory: greetings \nCategory: GREETING\n"
    assert "line 4: duplicate category 'GREETING' (already at line 1)" in errors_of(text)


def test_weights_not_totalling_100_are_reported_at_the_first_weight():
    text = (
        "Category: Greeting\nAction: Greet.\nScore weight: 50%\n"
        "Category: Closing\nAction: Close.\nScore weight: 40%\n"
    )
    assert errors_of(text) == ["line 3: Section weights total 90%; they must total 100%."]


def test_a_category_without_a_weight_among_weighted_ones_is_reported_at_its_line():
    text = (
        "Category: Greeting\nAction: Greet.\nScore weight: 100%\n"
        "Category: Closing\nAction: Close.\n"
    )
    assert errors_of(text)[0].startswith("line 4: Give this section a weight")


def test_every_problem_is_reported_in_line_order():
    text = (
        "Action: too early\n"
        "Category: Greeting\n"
        "Action: Greet.\n"
        "Score weight: lots\n"
        "Category:\n"
        "- : no key\n"
        "just some words\n"
        "Category: Closing\n"
        "- wrap_up\n"
    )
    assert [error.split(":")[0] for error in errors_of(text)] == [
        "line 1",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 9",
    ]


def test_category_without_action_or_criteria_is_reported():
    assert errors_of("Category: Greeting\nGoal: Be nice.\n") == [
        "line 1: category 'Greeting' has no 'Action:' line and no '- key: description' criteria"
    ]


def test_empty_script_is_reported():
    assert errors_of("\n# nothing here\n") == ["line 1: the script has no 'Category:'"]


def test_required_phrase_without_an_action_is_reported():
    text = "Category: Greeting\nRequired Phrase: hello\n- greet: Greets.\n"
    assert errors_of(text) == [
        "line 2: 'Required Phrase' belongs to an 'Action:' line, and this category has none"
    ]


# Export and round trips -------------------------------------------------------------------------


def test_export_writes_the_tutorial_format():
    assert export_script(structure_of(TUTORIAL)) == TUTORIAL.replace(
        "Score weight:10%", "Score weight: 10%"
    )


def test_export_then_import_gives_the_same_structure():
    structure = structure_of(TUTORIAL)
    assert structure_of(export_script(structure)) == structure


def test_variant_script_round_trips_through_export():
    text = (
        "category: Opening\r\ngoal: Welcome.\r\naction: Greet.\r\nRequired Phrase: hi\r\n"
        "Required Phrase: 'my name is'\r\n- ask_reason: Ask why they call.\r\nweight: 33.5 %\r\n"
        "Category: Opening hours\r\n- state_hours: Say when we open.\r\nScore weight: 66.5%\r\n"
    )
    structure = structure_of(text)
    assert structure_of(export_script(structure)) == structure


def test_export_of_a_by_criterion_version_weights_each_category_by_its_criteria():
    data = card_services()
    data["weighting"] = "BY_CRITERION"
    data["sections"][0]["weight"] = data["sections"][1]["weight"] = None
    for criterion, weight in zip(
        [c for s in data["sections"] for c in s["criteria"]], [20, 20, 42, 18, None], strict=True
    ):
        criterion["weight"] = weight
    cleaned, errors = clean_structure(data)
    assert errors == {}
    text = export_script(structure_from_data(cleaned))
    assert "Category: Opening\n" in text and "Score weight: 40%" in text
    assert "Score weight: 60%" in text


def test_export_puts_multi_line_texts_on_one_line():
    data = parse_script(TUTORIAL)
    data["sections"][0]["description"] = "Make them\nfeel welcome."
    assert "Goal: Make them feel welcome.\n" in export_script(structure_from_data(data))


# The import service -----------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Rubric, RubricVersion, Section, Criterion, RubricAuditEntry)
    }


@pytest.mark.django_db
def test_importing_the_tutorial_creates_a_rubric_with_its_draft_and_an_import_entry(world):
    version = rubric_import(fmt="twilio", text=TUTORIAL, name="Tutorial", actor=world.admin)
    assert version.rubric.name == "Tutorial"
    assert (version.number, version.status) == (1, VersionStatus.DRAFT)
    structure = version_structure(version=version)
    assert [(s.key, s.weight) for s in structure.sections] == [
        ("greeting", Decimal("10")),
        ("verification", Decimal("20")),
        ("resolution", Decimal("40")),
        ("closing", Decimal("30")),
    ]
    phrases = structure.criterion("greeting_action").required_phrases
    assert [p.text for p in phrases] == [
        "Thanks for contacting {company name}. This is {agent_name}."
    ]
    entry = RubricAuditEntry.objects.get(action=AuditAction.IMPORT)
    assert (entry.version, entry.actor) == (version, world.admin)
    assert entry.changes["source"] == {"format": "twilio", "script": TUTORIAL}
    assert [change["key"] for change in entry.changes["diff"]] == [
        "greeting",
        "greeting_action",
        "verification",
        "verification_action",
        "resolution",
        "resolution_action",
        "confirm_request",
        "offer_assistance",
        "closing",
        "closing_action",
    ]


@pytest.mark.django_db
def test_a_malformed_script_changes_nothing(world):
    make_rubric(actor=world.admin, name="Existing", publish=True)
    before = row_counts()
    with pytest.raises(ScriptInvalid) as caught:
        rubric_import(
            fmt="twilio",
            text=TUTORIAL.replace("Score weight: 40%", "Score weight: 140%"),
            name="Broken",
            actor=world.admin,
        )
    assert [str(e) for e in caught.value.errors] == [
        "line 15: 'Score weight' is 140%; it can be at most 100%"
    ]
    assert row_counts() == before


@pytest.mark.django_db
def test_a_malformed_script_for_an_existing_rubric_changes_nothing(world):
    rubric, _ = make_rubric(actor=world.admin, publish=True)
    before = row_counts()
    with pytest.raises(ScriptInvalid):
        rubric_import(fmt="twilio", text="Goal: nothing", rubric=rubric, actor=world.admin)
    assert row_counts() == before


@pytest.mark.django_db
def test_importing_into_an_existing_rubric_starts_its_next_draft(world):
    rubric, published = make_rubric(actor=world.admin, name="Card services", publish=True)
    draft = rubric_import(fmt="twilio", text=TUTORIAL, rubric=rubric, actor=world.admin)
    assert (draft.rubric, draft.number, draft.based_on) == (rubric, 2, published)
    rubric.refresh_from_db()
    assert rubric.name == "Card services"
    assert [s["key"] for s in version_data(version=draft)["sections"]] == [
        "greeting",
        "verification",
        "resolution",
        "closing",
    ]
    actions = list(
        RubricAuditEntry.objects.filter(version=draft).order_by("id").values_list("action", flat=1)
    )
    assert actions == [AuditAction.NEW_VERSION, AuditAction.IMPORT]


@pytest.mark.django_db
def test_a_script_import_needs_a_name_for_a_new_rubric(world):
    from apps.common.errors import ValidationFailed

    before = row_counts()
    with pytest.raises(ValidationFailed) as caught:
        rubric_import(fmt="twilio", text=TUTORIAL, actor=world.admin)
    assert caught.value.errors == {"name": ["Name the new rubric."]}
    assert row_counts() == before


@pytest.mark.django_db
def test_a_published_import_exports_as_the_same_script(world):
    from apps.rubrics.services import version_publish

    version = rubric_import(fmt="twilio", text=TUTORIAL, name="Tutorial", actor=world.admin)
    version = version_publish(version=version, actor=world.admin)
    exported = export_script(version_structure(version=version))
    assert exported == TUTORIAL.replace("Score weight:10%", "Score weight: 10%")
