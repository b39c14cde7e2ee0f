"""Score maths: weights, N/A re-basing, critical criteria, informational ones, rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.rubrics.scoring import score
from apps.rubrics.structure import RubricStructure, structure_from_data
from apps.rubrics.validation import clean_structure
from tests.fixtures.rubrics import card_services, content, criterion, section

MET, NOT_MET, NA = "MET", "NOT_MET", "NA"


def structure(data: dict) -> RubricStructure:
    cleaned, errors = clean_structure(data)
    assert errors == {}
    return structure_from_data(cleaned)


def by_criterion(*criteria: dict, critical_mode: str = "FAIL_CONVERSATION") -> RubricStructure:
    return structure(
        content(section("main", *criteria), weighting="BY_CRITERION", critical_mode=critical_mode)
    )


FIFTY_THIRTY_TWENTY = by_criterion(
    criterion("a", weight=50, na_allowed=True),
    criterion("b", weight=30, na_allowed=True),
    criterion("c", weight=20, na_allowed=True),
)


def test_by_criterion_score_is_the_met_share_of_the_weights():
    result = score(FIFTY_THIRTY_TWENTY, {"a": MET, "b": NOT_MET, "c": MET})
    assert result.score == Decimal("70.0")
    assert result.passed_critical is True
    assert result.critical_score is None


def test_na_leaves_the_denominator_and_the_rest_is_rebased():
    result = score(FIFTY_THIRTY_TWENTY, {"a": MET, "b": NA, "c": NOT_MET})
    assert result.score == Decimal("71.4")  # 50 / (50 + 20)
    assert result.counted_keys == ("a", "c")


def test_na_on_a_criterion_that_does_not_allow_it_counts_as_not_met():
    rubric = by_criterion(criterion("a", weight=50), criterion("b", weight=50))
    result = score(rubric, {"a": MET, "b": NA})
    assert result.score == Decimal("50.0")
    assert result.criteria[1].effective == NOT_MET
    assert result.criteria[1].note == "na_not_allowed"


def test_everything_na_gives_no_score_rather_than_zero():
    result = score(FIFTY_THIRTY_TWENTY, {"a": NA, "b": NA, "c": NA})
    assert result.score is None
    assert result.passed_critical is True
    assert result.counted_keys == ()


def test_by_section_score_weights_each_sections_met_share():
    rubric = structure(
        content(
            section("opening", criterion("greet"), criterion("name"), weight=60),
            section("close", criterion("recap"), criterion("thanks"), weight=40),
        )
    )
    result = score(rubric, {"greet": MET, "name": NOT_MET, "recap": MET, "thanks": MET})
    assert result.score == Decimal("70.0")  # 60 x 50% + 40 x 100%
    assert [(s.key, s.score) for s in result.sections] == [
        ("opening", Decimal("50.0")),
        ("close", Decimal("100.0")),
    ]


def test_by_section_criterion_weights_are_relative_within_the_section():
    rubric = structure(
        content(
            section(
                "opening", criterion("greet", weight=3), criterion("name", weight=1), weight=50
            ),
            section("close", criterion("recap"), weight=50),
        )
    )
    result = score(rubric, {"greet": MET, "name": NOT_MET, "recap": NOT_MET})
    assert result.sections[0].score == Decimal("75.0")
    assert result.score == Decimal("37.5")  # 50 x 75% + 50 x 0%


def test_by_section_a_section_with_everything_na_leaves_the_denominator():
    rubric = structure(
        content(
            section("opening", criterion("greet"), weight=30),
            section("card", criterion("block_card", na_allowed=True), weight=70),
        )
    )
    result = score(rubric, {"greet": MET, "block_card": NA})
    assert result.sections[1].score is None
    assert result.sections[1].counted is False
    assert result.score == Decimal("100.0")  # only the opening could be scored


def test_by_section_na_rebases_within_the_section():
    rubric = structure(
        content(
            section(
                "main",
                criterion("a", weight=50),
                criterion("b", weight=30, na_allowed=True),
                criterion("c", weight=20),
                weight=100,
            )
        )
    )
    result = score(rubric, {"a": MET, "b": NA, "c": NOT_MET})
    assert result.score == Decimal("71.4")


def test_informational_criteria_never_change_the_score():
    rubric = structure(card_services())
    outcomes = {
        "greeting": MET,
        "verify_identity": MET,
        "offer_replacement_card": MET,
        "confirm_address": MET,
    }
    with_info_met = score(rubric, outcomes | {"mention_app": MET})
    with_info_failed = score(rubric, outcomes | {"mention_app": NOT_MET})
    without_info = score(rubric, outcomes)
    assert with_info_met.score == with_info_failed.score == without_info.score == Decimal("100.0")
    assert "mention_app" not in with_info_failed.counted_keys
    assert with_info_failed.criteria[-1].note == "informational"


def test_fail_conversation_a_failed_critical_criterion_scores_zero():
    rubric = structure(card_services())
    result = score(
        rubric,
        {
            "greeting": MET,
            "verify_identity": NOT_MET,
            "offer_replacement_card": MET,
            "confirm_address": MET,
        },
    )
    assert result.score == Decimal("0.0")
    assert result.passed_critical is False
    assert result.failed_critical == ("verify_identity",)
    assert result.weighted_score == Decimal("80.0")  # 40 x 50% + 60 x 100%, for coaching


def test_fail_conversation_a_met_critical_criterion_counts_like_a_scored_one():
    rubric = by_criterion(
        criterion("verify", kind="CRITICAL", weight=40),
        criterion("greet", weight=60),
    )
    result = score(rubric, {"verify": MET, "greet": NOT_MET})
    assert result.score == Decimal("40.0")
    assert result.passed_critical is True
    assert "verify" in result.counted_keys


def test_fail_conversation_an_na_critical_criterion_without_na_allowed_fails():
    rubric = by_criterion(
        criterion("verify", kind="CRITICAL", weight=40), criterion("g", weight=60)
    )
    result = score(rubric, {"verify": NA, "g": MET})
    assert result.score == Decimal("0.0")
    assert result.passed_critical is False


def test_separate_score_critical_criteria_are_out_of_the_main_score():
    rubric = by_criterion(
        criterion("greet", weight=60),
        criterion("recap", weight=40),
        criterion("verify", kind="CRITICAL"),
        criterion("disclose_recording", kind="CRITICAL"),
        critical_mode="SEPARATE_SCORE",
    )
    result = score(
        rubric, {"greet": MET, "recap": NOT_MET, "verify": MET, "disclose_recording": NOT_MET}
    )
    assert result.score == Decimal("60.0")
    assert result.critical_score == Decimal("50.0")
    assert result.passed_critical is False
    assert result.failed_critical == ("disclose_recording",)
    assert result.counted_keys == ("greet", "recap")


def test_separate_score_all_critical_met_passes():
    rubric = by_criterion(
        criterion("greet", weight=100),
        criterion("verify", kind="CRITICAL"),
        criterion("disclose", kind="CRITICAL", na_allowed=True),
        critical_mode="SEPARATE_SCORE",
    )
    result = score(rubric, {"greet": NOT_MET, "verify": MET, "disclose": NA})
    assert result.score == Decimal("0.0")
    assert result.critical_score == Decimal("100.0")
    assert result.passed_critical is True


def test_separate_score_with_every_critical_na_has_no_critical_score_and_passes():
    rubric = by_criterion(
        criterion("greet", weight=100),
        criterion("verify", kind="CRITICAL", na_allowed=True),
        critical_mode="SEPARATE_SCORE",
    )
    result = score(rubric, {"greet": MET, "verify": NA})
    assert result.critical_score is None
    assert result.passed_critical is True


def test_criteria_for_another_participant_type_are_left_out():
    rubric = by_criterion(
        criterion("greet", weight=50),
        criterion("empathy", weight=30, applies_to="HUMAN_AGENT"),
        criterion("disclose_ai", weight=20, applies_to="AI_AGENT"),
    )
    outcomes = {"greet": MET, "empathy": NOT_MET}
    result = score(rubric, outcomes, participant_type="HUMAN_AGENT")
    assert result.score == Decimal("62.5")  # 50 / 80
    assert result.criteria[2].note == "not_for_participant"
    assert score(rubric, {"greet": MET, "disclose_ai": MET}, participant_type="AI_AGENT").score == (
        Decimal("100.0")
    )


def test_a_missing_outcome_is_an_error_unless_a_default_is_given():
    with pytest.raises(ValueError, match="No outcome for criteria: b, c"):
        score(FIFTY_THIRTY_TWENTY, {"a": MET})
    assert score(FIFTY_THIRTY_TWENTY, {"a": MET}, missing=NOT_MET).score == Decimal("50.0")


def test_outcomes_for_unknown_keys_are_ignored_and_listed():
    result = score(FIFTY_THIRTY_TWENTY, {"a": MET, "b": MET, "c": MET, "zzz": NOT_MET})
    assert result.score == Decimal("100.0")
    assert result.ignored_keys == ("zzz",)


def test_an_unknown_outcome_value_is_an_error():
    with pytest.raises(ValueError, match="Unknown outcome 'YES'"):
        score(FIFTY_THIRTY_TWENTY, {"a": "YES", "b": MET, "c": MET})


def test_scores_round_half_up_to_one_decimal_place():
    rubric = by_criterion(
        criterion("a", weight="33.33"),
        criterion("b", weight="33.33"),
        criterion("c", weight="33.34"),
    )
    assert score(rubric, {"a": MET, "b": MET, "c": NOT_MET}).score == Decimal("66.7")  # 66.66
    rubric = by_criterion(criterion("a", weight="0.25"), criterion("b", weight="99.75"))
    assert score(rubric, {"a": MET, "b": NOT_MET}).score == Decimal("0.3")  # 0.25 half up


def test_the_breakdown_shows_each_section_and_criterion():
    rubric = structure(card_services())
    result = score(
        rubric,
        {
            "greeting": NOT_MET,
            "verify_identity": MET,
            "offer_replacement_card": MET,
            "confirm_address": NA,
            "mention_app": MET,
        },
    )
    opening, resolution = result.sections
    assert (opening.weight, opening.earned, opening.possible, opening.score) == (
        Decimal("40.00"),
        Decimal(1),
        Decimal(2),
        Decimal("50.0"),
    )
    assert (resolution.earned, resolution.possible, resolution.score) == (
        Decimal("70.00"),
        Decimal("70.00"),
        Decimal("100.0"),
    )
    assert result.score == Decimal("80.0")  # 40 x 50% + 60 x 100%
    assert [(c.key, c.effective, c.counted) for c in result.criteria] == [
        ("greeting", NOT_MET, True),
        ("verify_identity", MET, True),
        ("offer_replacement_card", MET, True),
        ("confirm_address", NA, False),
        ("mention_app", MET, False),
    ]
