"""Validation of rubric content: messages an admin can act on, at paths the form can show."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.rubrics.validation import clean_structure, normalise_key, validate_structure
from tests.fixtures.rubrics import card_services, content, criterion, section


def by_criterion(*weights: int, **extra) -> dict:
    return content(
        section("main", *(criterion(f"c{i}", weight=w) for i, w in enumerate(weights))),
        weighting="BY_CRITERION",
        **extra,
    )


def test_a_complete_rubric_has_no_errors():
    assert validate_structure(card_services()) == {}
    assert validate_structure(by_criterion(50, 30, 20)) == {}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("  Greeting Check ", "greeting_check"),
        ("ID-verification", "id_verification"),
        ("Offer   replacement\tcard", "offer_replacement_card"),
        ("already_normal", "already_normal"),
        ("Confirms addresses", "confirms_addresses"),  # plurals are the mapping function's job
        ("__x__", "x"),
    ],
)
def test_normalise_key_lowercases_and_joins_words_with_underscores(text, key):
    assert normalise_key(text) == key


def test_section_weights_not_totalling_100_name_the_actual_total():
    data = card_services()
    data["sections"][1]["weight"] = 50
    assert validate_structure(data) == {
        "weights": ["Section weights total 90%; they must total 100%."]
    }


def test_criterion_weights_not_totalling_100_name_the_actual_total():
    assert validate_structure(by_criterion(50, 30, 10.5)) == {
        "weights": ["Criterion weights total 90.5%; they must total 100%."]
    }


def test_duplicate_section_key_is_reported_on_the_later_section():
    data = card_services()
    data["sections"][1]["key"] = "Opening"
    errors = validate_structure(data)
    assert errors["sections.1.key"] == ['Another section already uses the key "opening".']


def test_criterion_keys_must_be_unique_across_the_whole_rubric():
    data = card_services()
    data["sections"][1]["criteria"][2]["key"] = "Greeting "
    errors = validate_structure(data)
    assert list(errors) == ["sections.1.criteria.2.key"]
    assert 'already uses the key "greeting"' in errors["sections.1.criteria.2.key"][0]
    assert "unique across the rubric" in errors["sections.1.criteria.2.key"][0]


def test_empty_keys_and_names_are_required():
    data = card_services()
    data["sections"][0]["key"] = "  "
    data["sections"][0]["criteria"][1]["name"] = ""
    data["sections"][1]["criteria"][0]["key"] = "--"
    errors = validate_structure(data)
    assert errors["sections.0.key"] == ["Key is required."]
    assert errors["sections.0.criteria.1.name"] == ["Name is required."]
    assert errors["sections.1.criteria.0.key"] == ["Key needs at least one letter or digit."]


def test_required_phrases_need_text_and_a_tolerance_from_0_to_100():
    data = card_services()
    data["sections"][0]["criteria"][0]["required_phrases"] = [
        {"text": "  ", "tolerance": 80},
        {"text": "my name is", "tolerance": 101},
        {"text": "how can i help", "tolerance": "high"},
        {"text": "anything else"},
    ]
    errors = validate_structure(data)
    phrases = "sections.0.criteria.0.required_phrases"
    assert errors == {
        f"{phrases}.0.text": ["Phrase text is required."],
        f"{phrases}.1.tolerance": ["Tolerance must be a whole number from 0 to 100."],
        f"{phrases}.2.tolerance": ["Tolerance must be a whole number from 0 to 100."],
    }


def test_a_phrase_without_tolerance_gets_85():
    data = card_services()
    data["sections"][0]["criteria"][0]["required_phrases"] = [{"text": " Hi "}, "hello"]
    cleaned, errors = clean_structure(data)
    assert errors == {}
    assert cleaned["sections"][0]["criteria"][0]["required_phrases"] == [
        {"text": "Hi", "tolerance": 85},
        {"text": "hello", "tolerance": 85},
    ]


def test_a_time_window_longer_than_any_call_names_the_limit():
    data = card_services()
    data["sections"][0]["criteria"][0]["window_seconds"] = 3601
    assert validate_structure(data) == {
        "sections.0.criteria.0.window_seconds": [
            "The time window is longer than any call: at most 3600 seconds (60 minutes)."
        ]
    }


def test_the_longest_time_window_is_configurable(settings):
    data = card_services()
    data["sections"][0]["criteria"][0]["window_seconds"] = 700
    assert validate_structure(data, max_window=900) == {}
    settings.RUBRICS_MAX_WINDOW_SECONDS = 600
    assert validate_structure(data)["sections.0.criteria.0.window_seconds"] == [
        "The time window is longer than any call: at most 600 seconds (10 minutes)."
    ]


def test_a_time_window_must_be_positive_whole_seconds():
    data = card_services()
    data["sections"][0]["criteria"][0]["window_seconds"] = 0
    data["sections"][0]["criteria"][1]["window_seconds"] = 2.5
    errors = validate_structure(data)
    assert errors["sections.0.criteria.0.window_seconds"] == [
        "The time window must be at least 1 second."
    ]
    assert errors["sections.0.criteria.1.window_seconds"] == [
        "The time window must be whole seconds."
    ]


def test_a_rubric_needs_sections():
    assert validate_structure(content()) == {"sections": ["Add at least one section."]}


def test_a_section_needs_criteria():
    data = card_services()
    data["sections"].append(section("closing"))
    assert validate_structure(data)["sections.2.criteria"] == [
        "Add at least one criterion to this section."
    ]


def test_informational_criteria_alone_give_no_score():
    data = content(section("notes", criterion("mentions_app", kind="INFORMATIONAL")))
    assert validate_structure(data) == {
        "sections": [
            "Add at least one scored or critical criterion; informational ones alone give no score."
        ]
    }


def test_section_weight_is_refused_when_weighting_is_by_criterion():
    data = by_criterion(60, 40)
    data["sections"][0]["weight"] = 100
    assert validate_structure(data) == {
        "sections.0.weight": ["Sections carry no weight when weighting is by criterion; remove it."]
    }


def test_every_counting_criterion_needs_a_weight_when_weighting_is_by_criterion():
    data = by_criterion(60, 40)
    data["sections"][0]["criteria"].append(criterion("extra"))
    assert validate_structure(data) == {
        "sections.0.criteria.2.weight": ["Give this criterion a weight: weighting is by criterion."]
    }


def test_a_scored_section_needs_a_weight_when_weighting_is_by_section():
    data = card_services()
    data["sections"][1]["weight"] = None
    errors = validate_structure(data)
    assert errors["sections.1.weight"] == ["Give this section a weight: weighting is by section."]
    assert errors["weights"] == ["Section weights total 40%; they must total 100%."]


def test_a_section_without_counting_criteria_carries_no_weight_and_is_out_of_the_total():
    data = card_services()
    data["sections"][1]["weight"] = 40
    data["sections"][0]["weight"] = 30
    data["sections"].append(
        section("notes", criterion("mentions_app_2", kind="INFORMATIONAL"), weight=30)
    )
    assert validate_structure(data) == {
        "sections.2.weight": [
            "This section has no scored criteria, so it carries no weight; remove it."
        ],
        "weights": ["Section weights total 70%; they must total 100%."],
    }


def test_criterion_weights_in_a_section_are_all_given_or_all_left_out():
    data = card_services()
    data["sections"][1]["criteria"][1]["weight"] = None
    assert validate_structure(data) == {
        "sections.1.criteria.1.weight": [
            "Give this criterion a weight too, or clear the weights of this section's "
            "criteria to share the section equally."
        ]
    }


def test_informational_criteria_carry_no_weight():
    data = card_services()
    data["sections"][1]["criteria"][2]["weight"] = 10
    assert validate_structure(data) == {
        "sections.1.criteria.2.weight": ["Informational criteria are never scored; remove it."]
    }


def test_critical_criteria_carry_no_weight_when_they_are_scored_separately():
    data = by_criterion(60, 40, critical_mode="SEPARATE_SCORE")
    data["sections"][0]["criteria"].append(criterion("verify", kind="CRITICAL", weight=10))
    errors = validate_structure(data)
    assert list(errors) == ["sections.0.criteria.2.weight"]
    assert "separate pass/fail score" in errors["sections.0.criteria.2.weight"][0]


def test_critical_criteria_count_in_the_weights_when_they_fail_the_conversation():
    data = by_criterion(60, 30)
    data["sections"][0]["criteria"].append(criterion("verify", kind="CRITICAL", weight=10))
    assert validate_structure(data) == {}


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        ("heavy", "Weight must be a number."),
        (True, "Weight must be a number."),
        (-5, "Weight must be more than 0."),
        (0, "Weight must be more than 0."),
        (150, "Weight must be at most 100."),
        ("33.333", "Weight may have at most 2 decimal places."),
        ("NaN", "Weight must be a number."),
    ],
)
def test_bad_weights_are_explained_at_the_field_and_do_not_muddle_the_total(weight, message):
    data = card_services()
    data["sections"][0]["weight"] = weight
    assert validate_structure(data) == {"sections.0.weight": [message]}


def test_weights_may_be_strings_or_numbers_and_are_cleaned_to_decimals():
    data = by_criterion("33.33", 33.33, Decimal("33.34"))
    cleaned, errors = clean_structure(data)
    assert errors == {}
    assert [c["weight"] for c in cleaned["sections"][0]["criteria"]] == [
        Decimal("33.33"),
        Decimal("33.33"),
        Decimal("33.34"),
    ]


def test_unknown_choices_list_the_allowed_ones():
    data = card_services()
    data["weighting"] = "BY_VIBES"
    data["sections"][0]["criteria"][0]["kind"] = "BONUS"
    data["sections"][0]["criteria"][0]["applies_to"] = "ROBOTS"
    errors = validate_structure(data)
    assert errors["weighting"] == ["Choose one of: By section, By criterion."]
    assert errors["sections.0.criteria.0.kind"] == [
        "Choose one of: Scored, Critical, Informational."
    ]
    assert errors["sections.0.criteria.0.applies_to"] == [
        "Choose one of: Human agents, AI agents, Human and AI agents."
    ]


def test_weighting_and_critical_mode_are_required():
    data = card_services()
    del data["weighting"], data["critical_mode"]
    errors = validate_structure(data)
    assert set(errors) == {"weighting", "critical_mode"}


def test_shapes_that_are_not_objects_or_lists_are_reported_where_they_are():
    assert validate_structure(["not", "a", "rubric"]) == {
        "__all__": ["The rubric must be an object with its fields and sections."]
    }
    errors = validate_structure(content("opening", section("x", "not a criterion")))
    assert errors["sections.0"] == ["Each section must be an object."]
    assert errors["sections.1.criteria.0"] == ["Each criterion must be an object."]
    assert validate_structure(content(sections="nope"))["sections"] == ["Sections must be a list."]


def test_na_allowed_must_be_a_boolean():
    data = card_services()
    data["sections"][0]["criteria"][0]["na_allowed"] = "yes"
    assert validate_structure(data) == {
        "sections.0.criteria.0.na_allowed": ["Must be true or false."]
    }


def test_a_draft_may_be_saved_incomplete_but_not_ambiguous():
    unfinished = card_services()
    unfinished["sections"][1]["weight"] = 50  # 90% in total
    unfinished["sections"].append(section("closing"))  # no criteria yet
    assert validate_structure(unfinished, publishing=False) == {}
    unfinished["sections"][2]["key"] = "opening"
    assert list(validate_structure(unfinished, publishing=False)) == ["sections.2.key"]


def test_clean_structure_normalises_keys_strips_texts_and_fills_defaults():
    data = content(
        section(
            " Opening Part ",
            {"key": "Greets Caller", "name": "  Greets the caller  "},
            weight="100",
            name=" Opening ",
        ),
        notes=" first cut ",
    )
    cleaned, errors = clean_structure(data)
    assert errors == {}
    assert cleaned == {
        "notes": "first cut",
        "weighting": "BY_SECTION",
        "critical_mode": "FAIL_CONVERSATION",
        "sections": [
            {
                "key": "opening_part",
                "name": "Opening",
                "description": "",
                "weight": Decimal("100.00"),
                "criteria": [
                    {
                        "key": "greets_caller",
                        "name": "Greets the caller",
                        "description": "",
                        "expected_action": "",
                        "required_phrases": [],
                        "window_seconds": None,
                        "window_anchor": "CONVERSATION_START",
                        "weight": None,
                        "kind": "SCORED",
                        "na_allowed": False,
                        "applies_to": "BOTH",
                    }
                ],
            }
        ],
    }


def test_the_rubric_name_is_checked_when_given():
    data = card_services() | {"name": "  ", "description": 5}
    errors = validate_structure(data)
    assert errors == {
        "name": ["Rubric name is required."],
        "description": ["Description must be text."],
    }
