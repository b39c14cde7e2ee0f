"""Mapping Twilio Script Adherence results onto a version's criteria."""

from __future__ import annotations

import json

import pytest

from apps.rubrics.adherence import map_twilio_adherence, match_key, outcome_for
from apps.rubrics.choices import Outcome
from apps.rubrics.scoring import score
from apps.rubrics.scripttext import parse_script
from apps.rubrics.structure import structure_from_data
from apps.rubrics.validation import clean_structure
from tests.fixtures.rubrics import card_services

SCRIPT = """\
Category: Greeting
Action: Greet the customer with business name and agent name.
Score weight: 20%

Category: Move Details
Action: Ask for the new address and the move date.
- confirm_date: Repeat the move date back.
Score weight: 50%

Category: Closing
- offer_assistance: Offer help with anything else.
Score weight: 30%
"""


@pytest.fixture
def structure():
    return structure_from_data(parse_script(SCRIPT))


def category(key, **criteria):
    return {
        "category_key": key,
        "criteria": [{"criteria_key": k, "criteria_met": v} for k, v in criteria.items()],
    }


def result(*categories, explanation="The agent greeted the caller."):
    return {"categories": list(categories), "explanation": explanation}


def test_greetings_matches_the_greeting_category(structure):
    mapping = map_twilio_adherence(
        structure=structure, result=result(category("Greetings", Action="Succeeded"))
    )
    assert mapping.outcomes == {"greeting_action": Outcome.MET}
    assert mapping.unmatched_categories == ()


@pytest.mark.parametrize(
    "key", ["Move Details", "move_details", "MOVE-DETAIL", "  move   details ", "Move_Detail"]
)
def test_category_keys_match_ignoring_case_separators_and_plurals(structure, key):
    mapping = map_twilio_adherence(structure=structure, result=result(category(key, Action="Met")))
    assert mapping.outcomes == {"move_details_action": Outcome.MET}


@pytest.mark.parametrize("key", ["confirm_date", "Confirm Date", "confirm-dates", "CONFIRM_DATE"])
def test_criteria_keys_match_ignoring_case_separators_and_plurals(structure, key):
    mapping = map_twilio_adherence(
        structure=structure, result=result(category("Move Details", **{key: "Failed"}))
    )
    assert mapping.outcomes == {"confirm_date": Outcome.NOT_MET}


def test_keys_that_match_nothing_are_reported_not_dropped(structure):
    mapping = map_twilio_adherence(
        structure=structure,
        result=result(
            category("Greeting", Action="Succeeded", smile="Succeeded"),
            category("Small talk", Action="Met", weather="Failed"),
        ),
    )
    assert mapping.outcomes == {"greeting_action": Outcome.MET}
    assert [(c.category_key, c.criteria) for c in mapping.unmatched_categories] == [
        ("Small talk", (("Action", "Met"), ("weather", "Failed")))
    ]
    assert [
        (c.category_key, c.section_key, c.criteria_key, c.value) for c in mapping.unmatched_criteria
    ] == [("Greeting", "greeting", "smile", "Succeeded")]
    assert not mapping.fully_matched


def test_a_criterion_is_matched_within_its_own_category_only(structure):
    # offer_assistance belongs to Closing; under Greeting it names nothing.
    mapping = map_twilio_adherence(
        structure=structure, result=result(category("Greeting", offer_assistance="Succeeded"))
    )
    assert mapping.outcomes == {}
    assert [c.criteria_key for c in mapping.unmatched_criteria] == ["offer_assistance"]


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("Succeeded", Outcome.MET),
        ("Met", Outcome.MET),
        (True, Outcome.MET),
        ("succeeded", Outcome.MET),
        ("Failed", Outcome.NOT_MET),
        ("Not met", Outcome.NOT_MET),
        ("NOT_MET", Outcome.NOT_MET),
        (False, Outcome.NOT_MET),
        ("N/A", Outcome.NA),
        ("Not applicable", Outcome.NA),
        (None, Outcome.NA),
    ],
)
def test_criteria_met_values_map_to_outcomes(value, outcome):
    assert outcome_for(value) == outcome


@pytest.mark.parametrize("value", ["Partially", "In progress", 1, 0.5, {"met": True}, ""])
def test_other_criteria_met_values_are_reported_as_unknown(structure, value):
    mapping = map_twilio_adherence(
        structure=structure, result=result(category("Greeting", Action=value))
    )
    assert mapping.outcomes == {}
    assert [(u.criterion_key, u.value) for u in mapping.unknown_values] == [
        ("greeting_action", value)
    ]


def test_criteria_not_reported_are_listed_as_missing(structure):
    mapping = map_twilio_adherence(
        structure=structure, result=result(category("Greeting", Action="Succeeded"))
    )
    assert mapping.missing == ("move_details_action", "confirm_date", "offer_assistance")


def test_the_strongest_evidence_wins_when_a_criterion_is_reported_twice(structure):
    mapping = map_twilio_adherence(
        structure=structure,
        result=result(
            category("Greeting", Action="Failed"), category("Greetings", Action="Succeeded")
        ),
    )
    assert mapping.outcomes == {"greeting_action": Outcome.MET}


def test_outcomes_feed_the_scoring_function(structure):
    mapping = map_twilio_adherence(
        structure=structure,
        result=result(
            category("Greetings", Action="Succeeded"),
            category("Move Details", Action="Succeeded", confirm_date="Failed"),
            category("Closing", offer_assistance="Succeeded"),
        ),
    )
    assert mapping.missing == ()
    scored = score(structure, mapping.outcomes)
    # Greeting 20 + half of Move Details 50 + Closing 30.
    assert str(scored.score) == "75.0"


def test_explanation_is_kept_and_the_mapping_is_json_ready(structure):
    mapping = map_twilio_adherence(
        structure=structure,
        result=result(category("Small talk", Action="Met"), explanation="Greeted."),
    )
    assert mapping.explanation == "Greeted."
    assert json.loads(json.dumps(mapping.as_dict()))["unmatched_categories"] == [
        {"category_key": "Small talk", "criteria": [["Action", "Met"]]}
    ]


def test_a_result_sent_as_a_json_string_is_read(structure):
    text = json.dumps(result(category("Greeting", Action="Succeeded")))
    mapping = map_twilio_adherence(structure=structure, result=text)
    assert mapping.outcomes == {"greeting_action": Outcome.MET}


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("not json", "result is not JSON"),
        ([1, 2], "result is not an object"),
        ({"explanation": "x"}, "result has no categories"),
        ({"categories": "Greeting"}, "categories is not a list"),
        ({"categories": ["Greeting"]}, "categories[0] is not an object"),
    ],
)
def test_results_of_another_shape_are_reported_as_problems(structure, bad, problem):
    mapping = map_twilio_adherence(structure=structure, result=bad)
    assert mapping.outcomes == {}
    assert problem in mapping.problems
    assert len(mapping.missing) == 4


def test_criteria_of_a_hand_written_rubric_match_by_key_or_name():
    cleaned, _ = clean_structure(card_services())
    structure = structure_from_data(cleaned)
    mapping = map_twilio_adherence(
        structure=structure,
        result=result(
            category("Opening", greeting="Succeeded", **{"Verify identity": "Failed"}),
            category("Resolution", **{"offer-replacement-cards": "Met"}),
        ),
    )
    assert mapping.outcomes == {
        "greeting": Outcome.MET,
        "verify_identity": Outcome.NOT_MET,
        "offer_replacement_card": Outcome.MET,
    }


def test_match_key_normalises_case_separators_and_plurals():
    assert match_key("Move Details") == match_key("move-detail") == "move_detail"
    assert match_key("Identities") == "identity"
    assert match_key("Address") == "address"
    assert match_key("Status") == "status"
