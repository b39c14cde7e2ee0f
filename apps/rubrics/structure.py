"""A rubric version's content as plain data: limits, frozen dataclasses and the editable format.

Two shapes of the same content, neither tied to the ORM:

* the **editable format**, a nested dict that forms, the importer and the API send to
  ``services.draft_update`` and that ``selectors.version_data`` returns (documented in
  ``apps.rubrics.validation``);
* :class:`RubricStructure`, frozen dataclasses that ``scoring``, the adherence operator and the
  live checklist read (``selectors.version_structure`` builds them from the database,
  :func:`structure_from_data` from cleaned editable data, e.g. to preview a draft's score).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .choices import AppliesTo, CriterionKind, CriticalMode, Weighting, WindowAnchor

KEY_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
PHRASE_MAX_LENGTH = 500
DEFAULT_PHRASE_TOLERANCE = 85
# Weights are percentages, or relative weights within a section, with two decimal places.
WEIGHT_MAX_DIGITS = 5
WEIGHT_DECIMAL_PLACES = 2
WEIGHT_QUANTUM = Decimal("0.01")
MAX_WEIGHT = Decimal(100)
# No call lasts longer than this by default; settings.RUBRICS_MAX_WINDOW_SECONDS overrides it.
DEFAULT_MAX_WINDOW_SECONDS = 3600

# A criterion's fields, in document order: what the JSON format writes, the editor shows (its
# phrases aside, which have rows of their own) and the diff compares (by key).
CRITERION_FIELDS = (
    "key",
    "name",
    "description",
    "expected_action",
    "required_phrases",
    "window_seconds",
    "window_anchor",
    "weight",
    "kind",
    "na_allowed",
    "applies_to",
)


@dataclass(frozen=True, slots=True)
class PhraseSpec:
    text: str
    tolerance: int = DEFAULT_PHRASE_TOLERANCE


@dataclass(frozen=True, slots=True)
class CriterionSpec:
    key: str
    name: str
    section_key: str
    kind: str = CriterionKind.SCORED
    weight: Decimal | None = None
    na_allowed: bool = False
    applies_to: str = AppliesTo.BOTH
    description: str = ""
    expected_action: str = ""
    required_phrases: tuple[PhraseSpec, ...] = ()
    window_seconds: int | None = None
    window_anchor: str = WindowAnchor.CONVERSATION_START
    position: int = 0


@dataclass(frozen=True, slots=True)
class SectionSpec:
    key: str
    name: str
    criteria: tuple[CriterionSpec, ...]
    weight: Decimal | None = None
    description: str = ""
    position: int = 0


@dataclass(frozen=True, slots=True)
class RubricStructure:
    """Everything needed to score a conversation against one version, in order."""

    weighting: str
    critical_mode: str
    sections: tuple[SectionSpec, ...]
    rubric_id: int | None = None
    version_id: int | None = None
    version_number: int | None = None

    @property
    def criteria(self) -> Iterator[CriterionSpec]:
        for section in self.sections:
            yield from section.criteria

    def criterion(self, key: str) -> CriterionSpec | None:
        return next((c for c in self.criteria if c.key == key), None)

    def without(self, keys: Collection[str]) -> RubricStructure:
        """This structure minus the criteria ``keys`` (and the sections that leaves empty): to
        score only what could be judged (criteria without an automatic check, a draft review's
        unanswered ones)."""
        if not keys:
            return self
        sections = tuple(
            replace(section, criteria=kept)
            for section in self.sections
            if (kept := tuple(c for c in section.criteria if c.key not in keys))
        )
        return replace(self, sections=sections)


def counts_in_main_score(kind: str, critical_mode: str) -> bool:
    """Whether criteria of ``kind`` count in the weighted score under ``critical_mode``.

    SCORED always; CRITICAL only with FAIL_CONVERSATION (with SEPARATE_SCORE they give the
    critical score instead); INFORMATIONAL never.
    """
    if kind == CriterionKind.SCORED:
        return True
    return kind == CriterionKind.CRITICAL and critical_mode == CriticalMode.FAIL_CONVERSATION


def structure_from_data(
    data: dict[str, Any],
    *,
    rubric_id: int | None = None,
    version_id: int | None = None,
    version_number: int | None = None,
) -> RubricStructure:
    """Build a :class:`RubricStructure` from *cleaned* editable data (``clean_structure``)."""
    sections = []
    for s_pos, section in enumerate(data["sections"]):
        criteria = tuple(
            CriterionSpec(
                key=c["key"],
                name=c["name"],
                section_key=section["key"],
                kind=c["kind"],
                weight=c["weight"],
                na_allowed=c["na_allowed"],
                applies_to=c["applies_to"],
                description=c["description"],
                expected_action=c["expected_action"],
                required_phrases=tuple(
                    PhraseSpec(text=p["text"], tolerance=p["tolerance"])
                    for p in c["required_phrases"]
                ),
                window_seconds=c["window_seconds"],
                window_anchor=c["window_anchor"],
                position=c_pos,
            )
            for c_pos, c in enumerate(section["criteria"])
        )
        sections.append(
            SectionSpec(
                key=section["key"],
                name=section["name"],
                criteria=criteria,
                weight=section["weight"],
                description=section["description"],
                position=s_pos,
            )
        )
    return RubricStructure(
        weighting=data.get("weighting") or Weighting.BY_SECTION,
        critical_mode=data.get("critical_mode") or CriticalMode.FAIL_CONVERSATION,
        sections=tuple(sections),
        rubric_id=rubric_id,
        version_id=version_id,
        version_number=version_number,
    )


def format_decimal(value: Decimal) -> str:
    """``Decimal("50.00")`` -> ``"50"``, ``Decimal("33.30")`` -> ``"33.3"`` (for messages, JSON)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def jsonable(value: Any) -> Any:
    """Editable data (or a diff) with Decimals as strings, ready for JSON."""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
