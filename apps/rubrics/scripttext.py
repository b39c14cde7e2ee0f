"""Rubrics as the script text of Twilio's Script Adherence operator: import and export.

The operator takes its script as one text parameter (``script``; twilio-wire §2.7). Twilio's
tutorials write it as blocks, one per stage of the call::

    Category: Greeting
    Goal: Make the customer feel welcome.
    Action: Greet the customer with business name and agent name.
    Required Phrase: "Thanks for contacting {company name}. This is {agent_name}."
    - offer_assistance: The agent should offer assistance with anything else.
    Score weight: 10%

How a script maps onto a rubric version (the editable format of ``apps.rubrics.validation``):

* ``Category:`` starts a section; its key is the normalised name ("Move Details" ->
  ``move_details``). Weighting is BY_SECTION.
* ``Goal:`` is the section's description.
* ``Action:`` becomes a criterion named "Action" (the operator reports it as
  ``criteria_key: "Action"``) whose expected action is the text. Its key is
  ``<section key>_action``, because criterion keys are unique across a version.
* ``Required Phrase:`` (any number, quoted or not) are that Action criterion's required phrases,
  with the default tolerance.
* ``- key: description`` (the official criteria form) adds a criterion with that key and
  description; a key already used in another category gets the section key as a prefix.
* ``Score weight: 10%`` (or ``Weight:``) is the section's weight. A script without any weights
  (the official form has none) shares 100% equally between its categories.

Labels are case-insensitive; blank lines and lines starting with ``#`` are ignored; CRLF is fine.
Every problem is reported with its line number (:class:`ScriptParseError`), including those the
rubric validation finds in the result (weights not totalling 100%, a key too long...).

Export writes the same format from a version's :class:`~apps.rubrics.structure.RubricStructure`.
The format carries names, goals, actions, phrase texts, criteria descriptions and section
weights; it has no place for criterion kinds, criterion weights, time windows, N/A rules or
phrase tolerances, so those fall back to their defaults on a round trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from apps.common.errors import ApplicationError

from .choices import CriterionKind, CriticalMode, Weighting
from .structure import (
    KEY_MAX_LENGTH,
    MAX_WEIGHT,
    WEIGHT_QUANTUM,
    CriterionSpec,
    RubricStructure,
    SectionSpec,
    counts_in_main_score,
    format_decimal,
)
from .validation import clean_structure, normalise_key

ACTION_NAME = "Action"

_LABELS = {
    "category": "category",
    "goal": "goal",
    "action": "action",
    "required phrase": "phrase",
    "required phrases": "phrase",
    "score weight": "weight",
    "weight": "weight",
}
_LABEL_LINE = re.compile(r"(?P<label>[A-Za-z][A-Za-z ]*?)\s*:\s*(?P<value>.*)")
_CRITERION_LINE = re.compile(r"[-*\u2022]\s*(?P<rest>.*)")
_PERCENT = re.compile(r"(?P<number>\d+(?:[.,]\d+)?)\s*%")
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ScriptParseError:
    """One problem with a script, at a 1-based line number."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


class ScriptInvalid(ApplicationError):
    """The script cannot be imported; ``errors`` lists every problem with its line."""

    code = "invalid_script"

    def __init__(self, errors: list[ScriptParseError]) -> None:
        count = len(errors)
        super().__init__(
            f"The script has {count} problem{'s' if count != 1 else ''}; nothing was imported.",
            extra={"errors": [error.as_dict() for error in errors]},
        )
        self.errors = errors


def action_key(section_key: str) -> str:
    """The key of a section's Action criterion (criterion keys are unique per version)."""
    return f"{section_key[: KEY_MAX_LENGTH - len('_action')]}_action"


def parse_script(text: str) -> dict[str, Any]:
    """The rubric version a script describes, in the editable format, or :class:`ScriptInvalid`.

    The result is cleaned and has passed the full (publishing) validation, so it is ready for
    ``services.draft_update``; it carries no rubric name (a script has none).
    """
    parser = _Parser()
    parser.feed(text)
    data = parser.finish()
    if parser.errors:
        raise ScriptInvalid(parser.errors)
    cleaned, problems = clean_structure(data)
    if problems:
        raise ScriptInvalid(
            sorted(
                (
                    ScriptParseError(parser.line_for(path), message)
                    for path, messages in problems.items()
                    for message in messages
                ),
                key=lambda error: error.line,
            )
        )
    return cleaned


# Parsing ------------------------------------------------------------------------------------------


@dataclass
class _Section:
    line: int
    name: str
    key: str
    goal: str = ""
    goal_line: int = 0
    weight: Decimal | None = None
    weight_line: int = 0
    action: str = ""
    action_line: int = 0
    phrases: list[tuple[int, str]] = field(default_factory=list)
    # (line, key as written, normalised key, description)
    criteria: list[tuple[int, str, str, str]] = field(default_factory=list)
    discarded: bool = False  # a duplicate: its lines are checked but not kept
    broken: bool = False  # a line of it had a problem: do not also say it is empty


class _Parser:
    def __init__(self) -> None:
        self.errors: list[ScriptParseError] = []
        self.sections: list[_Section] = []
        self.current: _Section | None = None
        self.lines: dict[str, int] = {}

    def error(self, line: int, message: str) -> None:
        self.errors.append(ScriptParseError(line, message))
        if self.current is not None:
            self.current.broken = True

    def feed(self, text: str) -> None:
        for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if bullet := _CRITERION_LINE.fullmatch(line):
                self.criterion_line(number, bullet["rest"])
                continue
            match = _LABEL_LINE.fullmatch(line)
            if match is None:
                self.error(
                    number,
                    "expected 'Label: value' (Category, Goal, Action, Required Phrase, "
                    "Score weight) or a criterion '- key: description'",
                )
                continue
            label = _WHITESPACE.sub(" ", match["label"].lower())
            kind = _LABELS.get(label)
            value = match["value"].strip()
            if kind is None:
                self.error(
                    number,
                    f"unknown label '{match['label']}'; expected Category, Goal, Action, "
                    "Required Phrase or Score weight",
                )
            elif kind == "category":
                self.category_line(number, value)
            else:
                section = self.section_for(number, match["label"])
                if section is not None:
                    getattr(self, f"{kind}_line")(number, section, value, match["label"])

    def section_for(self, number: int, label: str) -> _Section | None:
        if self.current is None:
            self.error(number, f"'{label}:' before any 'Category:'")
        return self.current

    def category_line(self, number: int, name: str) -> None:
        key = normalise_key(name)
        section = _Section(line=number, name=name, key=key)
        self.current = section
        if not name:
            self.error(number, "'Category:' needs a name")
            section.discarded = True
            return
        if not key:
            self.error(number, f"category name '{name}' needs at least one letter or digit")
            section.discarded = True
            return
        first = next((s for s in self.sections if s.key == key), None)
        if first is not None:
            self.error(number, f"duplicate category '{name}' (already at line {first.line})")
            section.discarded = True
            return
        self.sections.append(section)

    def goal_line(self, number: int, section: _Section, value: str, label: str) -> None:
        if section.goal_line:
            self.error(
                number, f"a second '{label}:' in this category (first at line {section.goal_line})"
            )
        elif not value:
            self.error(number, f"'{label}:' needs text")
        else:
            section.goal, section.goal_line = value, number

    def action_line(self, number: int, section: _Section, value: str, label: str) -> None:
        if section.action_line:
            self.error(
                number,
                f"a second '{label}:' in this category (first at line {section.action_line}); "
                "add further steps as '- key: description' lines",
            )
        elif not value:
            self.error(number, f"'{label}:' needs a description of what the agent should do")
        else:
            section.action, section.action_line = value, number

    def phrase_line(self, number: int, section: _Section, value: str, label: str) -> None:
        phrase = _unquote(value)
        if not phrase:
            self.error(number, f"'{label}:' needs the phrase")
        else:
            section.phrases.append((number, phrase))

    def weight_line(self, number: int, section: _Section, value: str, label: str) -> None:
        if section.weight_line:
            self.error(
                number,
                f"a second '{label}:' in this category (first at line {section.weight_line})",
            )
            return
        match = _PERCENT.fullmatch(value)
        if match is None:
            self.error(number, f"'{label}' must be a percentage like 10%")
            return
        try:
            weight = Decimal(match["number"].replace(",", "."))
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self.error(number, f"'{label}' must be a percentage like 10%")
            return
        if weight > MAX_WEIGHT:
            self.error(number, f"'{label}' is {value}; it can be at most 100%")
        elif weight <= 0:
            self.error(number, f"'{label}' must be more than 0%")
        else:
            section.weight, section.weight_line = weight, number

    def criterion_line(self, number: int, rest: str) -> None:
        key_text, colon, description = rest.partition(":")
        key_text, description = key_text.strip(), description.strip()
        if not colon or not key_text:
            self.error(number, "criteria lines look like '- key: description'")
            return
        key = normalise_key(key_text)
        if not key:
            self.error(number, f"criteria key '{key_text}' needs at least one letter or digit")
            return
        if not description:
            self.error(number, f"criterion '{key_text}' needs a description after the colon")
            return
        section = self.section_for(number, f"- {key_text}")
        if section is None:
            return
        for line, _, other, _ in section.criteria:
            if other == key:
                self.error(
                    number, f"duplicate criterion '{key_text}' in this category (line {line})"
                )
                return
        section.criteria.append((number, key_text, key, description))

    def finish(self) -> dict[str, Any]:
        if not self.sections and not self.errors:
            self.error(1, "the script has no 'Category:'")
        weighted = [s for s in self.sections if s.weight_line]
        shares = _equal_shares(len(self.sections)) if not weighted else []
        used_keys: set[str] = set()
        sections = []
        for i, section in enumerate(self.sections):
            path = f"sections.{i}"
            self.lines[path] = section.line
            if section.goal_line:
                self.lines[f"{path}.description"] = section.goal_line
            self.lines[f"{path}.weight"] = section.weight_line or section.line
            if section.phrases and not section.action_line:
                self.error(
                    section.phrases[0][0],
                    "'Required Phrase' belongs to an 'Action:' line, and this category has none",
                )
            if not section.action_line and not section.criteria and not section.broken:
                self.error(
                    section.line,
                    f"category '{section.name}' has no 'Action:' line and no "
                    "'- key: description' criteria",
                )
            criteria: list[dict[str, Any]] = []
            if section.action_line:
                key = action_key(section.key)
                self.lines[f"{path}.criteria.{len(criteria)}"] = section.action_line
                for k, (line, _) in enumerate(section.phrases):
                    self.lines[f"{path}.criteria.{len(criteria)}.required_phrases.{k}"] = line
                criteria.append(
                    _criterion(
                        key=key,
                        name=ACTION_NAME,
                        expected_action=section.action,
                        phrases=[text for _, text in section.phrases],
                    )
                )
                used_keys.add(key)
            for line, key_text, key, description in section.criteria:
                if key in used_keys:
                    key = f"{section.key}_{key}"[:KEY_MAX_LENGTH]
                used_keys.add(key)
                self.lines[f"{path}.criteria.{len(criteria)}"] = line
                criteria.append(
                    _criterion(key=key, name=_humanise(key_text), description=description)
                )
            sections.append(
                {
                    "key": section.key,
                    "name": section.name,
                    "description": section.goal,
                    "weight": shares[i] if shares else section.weight,
                    "criteria": criteria,
                }
            )
        first_weight = min((s.weight_line for s in weighted), default=1)
        self.lines["weights"] = first_weight
        self.errors.sort(key=lambda error: error.line)
        return {
            "weighting": Weighting.BY_SECTION,
            "critical_mode": CriticalMode.FAIL_CONVERSATION,
            "sections": sections,
        }

    def line_for(self, path: str) -> int:
        """The script line an editable-format path came from (its nearest known ancestor)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return 1


def _criterion(
    *,
    key: str,
    name: str,
    description: str = "",
    expected_action: str = "",
    phrases: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        "description": description,
        "expected_action": expected_action,
        "required_phrases": [{"text": text} for text in phrases],
        "kind": CriterionKind.SCORED,
    }


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and _QUOTES.get(value[0]) == value[-1]:
        return value[1:-1].strip()
    return value


def _humanise(key_text: str) -> str:
    """``offer_assistance`` -> "Offer assistance"; names already written as words are kept."""
    words = re.sub(r"[_\-]+", " ", key_text).strip()
    words = _WHITESPACE.sub(" ", words)
    return words[:1].upper() + words[1:]


def _equal_shares(count: int) -> list[Decimal]:
    """100% split into ``count`` two-decimal shares that total exactly 100 (the first get 0.01
    more)."""
    if count == 0:
        return []
    base = (MAX_WEIGHT / count).quantize(WEIGHT_QUANTUM, rounding=ROUND_DOWN)
    extra = int((MAX_WEIGHT - base * count) / WEIGHT_QUANTUM)
    return [base + (WEIGHT_QUANTUM if i < extra else 0) for i in range(count)]


# Export -------------------------------------------------------------------------------------------


def export_script(structure: RubricStructure) -> str:
    """A version as the ``script`` parameter text of Twilio's Script Adherence operator."""
    weights = _section_weights(structure)
    blocks = []
    for section in structure.sections:
        lines = [f"Category: {_one_line(section.name)}"]
        if section.description:
            lines.append(f"Goal: {_one_line(section.description)}")
        action = _action_criterion(section)
        if action is not None:
            lines.append(f"Action: {_one_line(action.expected_action or action.description)}")
            lines.extend(
                f'Required Phrase: "{_one_line(phrase.text)}"' for phrase in action.required_phrases
            )
        for criterion in section.criteria:
            if criterion is action:
                continue
            text = criterion.description or criterion.expected_action or criterion.name
            lines.append(f"- {criterion.key}: {_one_line(text)}")
        weight = weights.get(section.key)
        if weight is not None:
            lines.append(f"Score weight: {format_decimal(weight)}%")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _action_criterion(section: SectionSpec) -> CriterionSpec | None:
    return next((c for c in section.criteria if c.key == action_key(section.key)), None)


def _section_weights(structure: RubricStructure) -> dict[str, Decimal]:
    """Each section's share of the score in percent (by criterion: its criteria's weights)."""
    if structure.weighting == Weighting.BY_SECTION:
        return {s.key: s.weight for s in structure.sections if s.weight is not None}
    weights = {}
    for section in structure.sections:
        total = sum(
            (
                c.weight
                for c in section.criteria
                if c.weight is not None and counts_in_main_score(c.kind, structure.critical_mode)
            ),
            Decimal(0),
        )
        if total:
            weights[section.key] = total
    return weights


def _one_line(text: str) -> str:
    """The format is line based: a multi-line text becomes one line."""
    return _WHITESPACE.sub(" ", text).strip()
