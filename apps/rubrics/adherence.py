"""Twilio's Script Adherence operator result, mapped onto the criteria of a pinned version.

The operator answers (twilio-wire §2.7; the shape is inferred from Twilio's sample code)::

    {"categories": [{"category_key": "Greeting",
                     "criteria": [{"criteria_key": "Action", "criteria_met": "Succeeded"}]}],
     "explanation": "..."}

``category_key`` echoes a script's category name and ``criteria_key`` a criterion key, or
"Action" for the ``Action:`` line (see ``apps.rubrics.scripttext``). The model does not always
echo them exactly: Twilio's own sample script says "Greetings" where its UI expects "Greeting".
So keys are compared after normalising case, whitespace, underscores, hyphens and plurals, and
what matches nothing is reported, never silently dropped.

``criteria_met``: only "Succeeded" is evidenced. "Succeeded"/"Met"/true are MET,
"Failed"/"Not met"/false are NOT_MET, "N/A"/"Not applicable"/null are NA; any other value is
reported in ``unknown_values`` and gives no outcome.

The result's ``outcomes`` (criterion key -> MET/NOT_MET/NA) is what ``scoring.score`` takes.
Criteria the operator did not report are listed in ``missing``; a caller decides what they mean
(``score(..., missing=Outcome.NOT_MET)`` at the end of a call, nothing yet mid-call).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .choices import Outcome
from .structure import CriterionSpec, RubricStructure, SectionSpec

_MET = {"succeeded", "success", "successful", "met", "true", "yes", "pass", "passed"}
_NOT_MET = {"failed", "fail", "failure", "not met", "unmet", "false", "no"}
_NA = {"n/a", "na", "not applicable", "none", "null"}
# When the same criterion is reported twice (e.g. as "Greeting" and "Greetings"), the strongest
# evidence wins: the operator judges the conversation so far, so a step seen done stays done.
_PRECEDENCE: dict[str, int] = {Outcome.MET: 2, Outcome.NOT_MET: 1, Outcome.NA: 0}

_SEPARATORS = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True, slots=True)
class UnmatchedCategory:
    """A category of the result that names no section; its criteria as reported."""

    category_key: str
    criteria: tuple[tuple[str, Any], ...]  # (criteria_key, criteria_met)


@dataclass(frozen=True, slots=True)
class UnmatchedCriterion:
    """A criterion of a matched category that names no criterion of that section."""

    category_key: str
    section_key: str
    criteria_key: str
    value: Any


@dataclass(frozen=True, slots=True)
class UnknownValue:
    """A matched criterion whose ``criteria_met`` is none of the known values."""

    category_key: str
    criteria_key: str
    criterion_key: str
    value: Any


@dataclass(frozen=True, slots=True)
class AdherenceMapping:
    outcomes: dict[str, str]  # criterion key -> Outcome value, ready for scoring.score
    unmatched_categories: tuple[UnmatchedCategory, ...] = ()
    unmatched_criteria: tuple[UnmatchedCriterion, ...] = ()
    unknown_values: tuple[UnknownValue, ...] = ()
    missing: tuple[str, ...] = ()  # criterion keys of the version the result did not report
    problems: tuple[str, ...] = ()  # parts of the result that were not in the expected shape
    explanation: str = ""

    @property
    def fully_matched(self) -> bool:
        """Every reported key and value was understood."""
        return (
            not (self.unmatched_categories or self.unmatched_criteria or self.unknown_values)
            and not self.problems
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, e.g. to store beside the operator result."""
        return asdict(self)


def match_key(text: Any) -> str:
    """The form keys are compared in: "Move Details", "move-detail", "MOVE_DETAILS" ->
    "move_detail"."""
    words = _SEPARATORS.split(str(text).lower())
    return "_".join(_singular(word) for word in words if word)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def outcome_for(value: Any) -> str | None:
    """MET, NOT_MET or NA for a ``criteria_met`` value; None when it is not a known value."""
    if value is None:
        return Outcome.NA
    if isinstance(value, bool):
        return Outcome.MET if value else Outcome.NOT_MET
    if not isinstance(value, str):
        return None
    text = " ".join(re.split(r"[\s_\-]+", value.strip().lower())).strip()
    if text in _MET:
        return Outcome.MET
    if text in _NOT_MET:
        return Outcome.NOT_MET
    if text in _NA:
        return Outcome.NA
    return None


def map_twilio_adherence(*, structure: RubricStructure, result: Any) -> AdherenceMapping:
    """Map a Script Adherence operator ``result`` onto ``structure``'s criteria."""
    problems: list[str] = []
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return AdherenceMapping(
                outcomes={}, missing=_all_keys(structure), problems=("result is not JSON",)
            )
    if not isinstance(result, dict):
        return AdherenceMapping(
            outcomes={}, missing=_all_keys(structure), problems=("result is not an object",)
        )
    explanation = result.get("explanation")
    explanation = explanation if isinstance(explanation, str) else ""
    categories = result.get("categories")
    if categories is None:
        categories = []
        problems.append("result has no categories")
    elif not isinstance(categories, list):
        categories = []
        problems.append("categories is not a list")

    sections = _Index((s, (s.key, s.name)) for s in structure.sections)
    outcomes: dict[str, str] = {}
    unmatched_categories: list[UnmatchedCategory] = []
    unmatched_criteria: list[UnmatchedCriterion] = []
    unknown_values: list[UnknownValue] = []
    for i, category in enumerate(categories):
        if not isinstance(category, dict):
            problems.append(f"categories[{i}] is not an object")
            continue
        category_key = str(_first(category, "category_key", "category", "name") or "")
        reported = _criteria(category, f"categories[{i}]", problems)
        section = sections.find(category_key)
        if section is None:
            unmatched_categories.append(UnmatchedCategory(category_key, tuple(reported)))
            continue
        criteria = _Index((c, _criterion_names(c, section)) for c in section.criteria)
        for criteria_key, value in reported:
            criterion = criteria.find(criteria_key)
            if criterion is None:
                unmatched_criteria.append(
                    UnmatchedCriterion(category_key, section.key, criteria_key, value)
                )
                continue
            outcome = outcome_for(value)
            if outcome is None:
                unknown_values.append(
                    UnknownValue(category_key, criteria_key, criterion.key, value)
                )
                continue
            previous = outcomes.get(criterion.key)
            if previous is None or _PRECEDENCE[outcome] > _PRECEDENCE[previous]:
                outcomes[criterion.key] = outcome
    return AdherenceMapping(
        outcomes={k: str(v) for k, v in outcomes.items()},
        unmatched_categories=tuple(unmatched_categories),
        unmatched_criteria=tuple(unmatched_criteria),
        unknown_values=tuple(unknown_values),
        missing=tuple(key for key in _all_keys(structure) if key not in outcomes),
        problems=tuple(problems),
        explanation=explanation,
    )


def _all_keys(structure: RubricStructure) -> tuple[str, ...]:
    return tuple(c.key for c in structure.criteria)


def _first(item: dict[str, Any], *names: str) -> Any:
    return next((item[name] for name in names if item.get(name) is not None), None)


def _criteria(category: dict[str, Any], path: str, problems: list[str]) -> list[tuple[str, Any]]:
    raw = category.get("criteria")
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{path}.criteria is not a list")
        return []
    reported = []
    for j, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"{path}.criteria[{j}] is not an object")
            continue
        key = _first(item, "criteria_key", "criterion_key", "key", "name")
        value = item.get("criteria_met", item.get("met"))
        reported.append((str(key or ""), value))
    return reported


def _criterion_names(criterion: CriterionSpec, section: SectionSpec) -> tuple[str, ...]:
    # Imported scripts store "Action" as "<section>_action", and a criteria key reused across
    # categories as "<section>_<key>" (criterion keys are unique per version).
    return (
        criterion.key,
        criterion.name,
        criterion.key.removeprefix(f"{section.key}_"),
    )


class _Index:
    """Find an item by any of its names: exactly (ignoring case) first, then normalised."""

    def __init__(self, named: Iterable[tuple[Any, tuple[str, ...]]]) -> None:
        self.exact: dict[str, Any] = {}
        self.loose: dict[str, Any] = {}
        for item, names in named:
            for name in names:
                self.exact.setdefault(str(name).strip().lower(), item)
                self.loose.setdefault(match_key(name), item)

    def find(self, key: str) -> Any:
        found = self.exact.get(key.strip().lower())
        if found is None and key.strip():
            found = self.loose.get(match_key(key))
        return found
