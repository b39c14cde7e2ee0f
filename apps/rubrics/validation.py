"""Validation of a rubric version's editable content, with errors keyed by stable field paths.

The editable format (what ``services.draft_update`` takes and ``selectors.version_data``
returns)::

    {
        "name": "Card services",          # optional: renames the rubric (not versioned)
        "description": "...",             # optional: the rubric's description (not versioned)
        "notes": "...",                   # this version's notes
        "weighting": "BY_SECTION",        # or "BY_CRITERION"
        "critical_mode": "FAIL_CONVERSATION",  # or "SEPARATE_SCORE"
        "sections": [                     # in display order; position = index
            {
                "key": "opening", "name": "Opening", "description": "",
                "weight": "40",           # number or numeric string; None when BY_CRITERION
                "criteria": [             # in display order; position = index
                    {
                        "key": "greeting", "name": "Greets the caller",
                        "description": "", "expected_action": "",
                        "required_phrases": [{"text": "thank you for calling", "tolerance": 85}],
                        "window_seconds": 30,  # or None
                        "window_anchor": "AGENT_FIRST_TURN",  # or "CONVERSATION_START"
                        "weight": None,
                        "kind": "SCORED",  # or "CRITICAL", "INFORMATIONAL"
                        "na_allowed": False,
                        "applies_to": "BOTH",  # or "HUMAN_AGENT", "AI_AGENT"
                    },
                ],
            },
        ],
    }

Missing optional fields take the defaults shown by ``clean_structure``'s output (empty texts, no
phrases, no window, CONVERSATION_START, no weight, SCORED, N/A not allowed, BOTH, tolerance 85).
``weighting`` and ``critical_mode`` are required.

Keys are normalised with :func:`normalise_key` before they are checked and stored, so
"Greeting Check" is stored as "greeting_check".

Error paths (``validate_structure`` returns ``{path: [message, ...]}``; ``i``, ``j``, ``k`` are
0-based list indexes of the submitted data):

=============================================  ===============================================
``__all__``                                    the data is not an object at all
``name``, ``description``, ``notes``           rubric/version texts (empty or too long name)
``weighting``, ``critical_mode``               missing or unknown mode
``weights``                                    weights do not total 100% (names the total)
``sections``                                   not a list; no sections; nothing is scored
``sections.i``                                 the section is not an object
``sections.i.key`` / ``.name`` / ``.weight``   empty, duplicate or too long key; empty name;
                                               bad, missing or wrong-mode weight
``sections.i.criteria``                        not a list; the section has no criteria
``sections.i.criteria.j``                      the criterion is not an object
``sections.i.criteria.j.<field>``              ``key`` (also duplicates across the version),
                                               ``name``, ``weight``, ``kind``, ``applies_to``,
                                               ``na_allowed``, ``window_seconds``,
                                               ``window_anchor``, ``required_phrases``
``sections.i.criteria.j.required_phrases.k``   the phrase is not an object
``…required_phrases.k.text`` / ``.tolerance``  empty text; tolerance not a whole number 0-100
=============================================  ===============================================

Two levels. Every check runs when publishing (``publishing=True``, the default). A draft may be
saved half-done (``publishing=False``, what ``draft_update`` uses): then only the checks that
make the content storable and unambiguous run (shapes, keys, names, texts, numbers, ranges,
choices), and these publish-only checks are skipped: no sections, a section without criteria,
nothing scored, missing weights, weights given where the mode ignores them, and totals.

Weight rules (publishing):

* BY_SECTION: every section with at least one counting criterion has a weight; the others have
  none; section weights total 100. Within a section, either every counting criterion has a
  (relative) weight or none does (then they share the section equally).
* BY_CRITERION: no section has a weight; every counting criterion has a weight; these total 100.
* INFORMATIONAL criteria never have a weight; CRITICAL ones have none with SEPARATE_SCORE.

"Counting" criteria are those in the weighted main score: SCORED, and CRITICAL with
FAIL_CONVERSATION (``structure.counts_in_main_score``). Weights are > 0, at most 100, with at
most two decimal places.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import models

from .choices import AppliesTo, CriterionKind, CriticalMode, Weighting, WindowAnchor
from .structure import (
    DEFAULT_MAX_WINDOW_SECONDS,
    DEFAULT_PHRASE_TOLERANCE,
    KEY_MAX_LENGTH,
    MAX_WEIGHT,
    NAME_MAX_LENGTH,
    PHRASE_MAX_LENGTH,
    WEIGHT_QUANTUM,
    counts_in_main_score,
    format_decimal,
)

Errors = dict[str, list[str]]

_NOT_KEY_CHARS = re.compile(r"[\W_]+")
HUNDRED = Decimal(100)


def normalise_key(text: str) -> str:
    """A slug-like key: lowercase, trimmed, every run of spaces or punctuation becomes one "_".

    "  Greeting Check " -> "greeting_check"; "ID-verification" -> "id_verification". Letters
    outside ASCII are kept. Plurals are left alone (the Twilio mapping function handles those).
    """
    return _NOT_KEY_CHARS.sub("_", str(text).strip().lower()).strip("_")


def max_window_seconds() -> int:
    """The longest time window a criterion may have: no call is longer (configurable)."""
    return int(getattr(settings, "RUBRICS_MAX_WINDOW_SECONDS", DEFAULT_MAX_WINDOW_SECONDS))


def validate_structure(
    data: Any, *, publishing: bool = True, max_window: int | None = None
) -> Errors:
    """Problems with ``data`` (editable format) as ``{path: [message, ...]}``; empty when valid."""
    return clean_structure(data, publishing=publishing, max_window=max_window)[1]


def clean_structure(
    data: Any, *, publishing: bool = True, max_window: int | None = None
) -> tuple[dict[str, Any], Errors]:
    """``data`` normalised (keys, stripped texts, Decimal weights, defaults filled) and errors.

    The cleaned data is only meaningful when there are no errors.
    """
    return _Cleaner(publishing=publishing, max_window=max_window).clean(data)


def clean_rubric_fields(*, name: Any, description: Any) -> tuple[dict[str, str], Errors]:
    """The rubric's own fields (as ``rubric_create`` takes them) cleaned, and errors."""
    cleaner = _Cleaner(publishing=False, max_window=None)
    raw = {"name": name, "description": description}
    cleaned = {
        "name": cleaner.name(raw, "name", label="Rubric name"),
        "description": cleaner.text(raw, "description", "description", label="Description"),
    }
    return cleaned, cleaner.errors


def _choice_message(choices: type[models.TextChoices]) -> str:
    return "Choose one of: " + ", ".join(str(label) for label in choices.labels) + "."


def _pretty_seconds(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{seconds} seconds ({minutes} minute{'s' if minutes != 1 else ''})"
    return f"{seconds} seconds"


class _Cleaner:
    def __init__(self, *, publishing: bool, max_window: int | None) -> None:
        self.publishing = publishing
        self.max_window = max_window if max_window is not None else max_window_seconds()
        self.errors: Errors = {}
        self.completing = False

    def add(self, path: str, message: str) -> None:
        if self.completing and path in self.errors:
            return  # the field's own problem (a weight that is not a number) comes first
        self.errors.setdefault(path, []).append(message)

    # Field parsers: record an error and return a safe default for anything unusable.

    def text(
        self, raw: dict[str, Any], field: str, path: str, *, label: str, required: bool = False
    ) -> str:
        value = raw.get(field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.add(path, f"{label} must be text.")
            return ""
        value = value.strip()
        if required and not value:
            self.add(path, f"{label} is required.")
        return value

    def name(self, raw: dict[str, Any], path: str, *, label: str = "Name") -> str:
        value = self.text(raw, "name", path, label=label, required=True)
        if len(value) > NAME_MAX_LENGTH:
            self.add(path, f"{label} must be at most {NAME_MAX_LENGTH} characters.")
        return value

    def key(self, raw: dict[str, Any], path: str) -> str:
        value = raw.get("key")
        if value is None or (isinstance(value, str) and not value.strip()):
            self.add(path, "Key is required.")
            return ""
        if not isinstance(value, str):
            self.add(path, "Key must be text.")
            return ""
        key = normalise_key(value)
        if not key:
            self.add(path, "Key needs at least one letter or digit.")
        elif len(key) > KEY_MAX_LENGTH:
            self.add(path, f"Key must be at most {KEY_MAX_LENGTH} characters.")
        return key

    def weight(self, raw: dict[str, Any], path: str) -> Decimal | None:
        value = raw.get("weight")
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            self.add(path, "Weight must be a number.")
            return None
        try:
            weight = Decimal(str(value).strip())
        except InvalidOperation:
            self.add(path, "Weight must be a number.")
            return None
        if not weight.is_finite():
            self.add(path, "Weight must be a number.")
            return None
        if weight <= 0:
            self.add(path, "Weight must be more than 0.")
            return None
        if weight > MAX_WEIGHT:
            self.add(path, f"Weight must be at most {MAX_WEIGHT}.")
            return None
        if weight != weight.quantize(WEIGHT_QUANTUM):
            self.add(path, "Weight may have at most 2 decimal places.")
            return None
        return weight.quantize(WEIGHT_QUANTUM)

    def whole_number(self, value: Any, path: str, *, message: str) -> int | None:
        if isinstance(value, bool):
            self.add(path, message)
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        if isinstance(value, float | Decimal) and value == int(value):
            return int(value)
        self.add(path, message)
        return None

    def choice(
        self,
        raw: dict[str, Any],
        field: str,
        path: str,
        choices: type[models.TextChoices],
        default: str | None,
    ) -> str:
        value = raw.get(field)
        if value is None or value == "":
            if default is None:
                self.add(path, _choice_message(choices))
                return ""
            return default
        if value not in choices.values:
            self.add(path, _choice_message(choices))
            return default or ""
        return str(value)

    # The structure.

    def clean(self, data: Any) -> tuple[dict[str, Any], Errors]:
        if not isinstance(data, dict):
            self.add("__all__", "The rubric must be an object with its fields and sections.")
            return {"sections": []}, self.errors
        cleaned: dict[str, Any] = {}
        if "name" in data:
            cleaned["name"] = self.name(data, "name", label="Rubric name")
        if "description" in data:
            cleaned["description"] = self.text(
                data, "description", "description", label="Description"
            )
        cleaned["notes"] = self.text(data, "notes", "notes", label="Notes")
        cleaned["weighting"] = self.choice(data, "weighting", "weighting", Weighting, None)
        cleaned["critical_mode"] = self.choice(
            data, "critical_mode", "critical_mode", CriticalMode, None
        )
        raw_sections = data.get("sections")
        if raw_sections is None:
            raw_sections = []
        if not isinstance(raw_sections, list):
            self.add("sections", "Sections must be a list.")
            raw_sections = []
        sections = []
        section_keys: dict[str, int] = {}
        criterion_keys: dict[str, str] = {}
        for i, raw_section in enumerate(raw_sections):
            path = f"sections.{i}"
            if not isinstance(raw_section, dict):
                self.add(path, "Each section must be an object.")
                continue
            section = self.section(raw_section, path)
            if section["key"]:
                if section["key"] in section_keys:
                    self.add(
                        f"{path}.key",
                        f'Another section already uses the key "{section["key"]}".',
                    )
                else:
                    section_keys[section["key"]] = i
            for j, criterion in enumerate(section["criteria"]):
                if not criterion["key"]:
                    continue
                if criterion["key"] in criterion_keys:
                    self.add(
                        f"{path}.criteria.{j}.key",
                        f'Another criterion already uses the key "{criterion["key"]}" '
                        f"(in section “{criterion_keys[criterion['key']]}”); criterion keys "
                        "must be unique across the rubric.",
                    )
                else:
                    criterion_keys[criterion["key"]] = section["name"] or section["key"]
            sections.append(section)
        cleaned["sections"] = sections
        if self.publishing:
            self.completing = True
            self.check_complete(cleaned)
        return cleaned, self.errors

    def section(self, raw: dict[str, Any], path: str) -> dict[str, Any]:
        section: dict[str, Any] = {
            "key": self.key(raw, f"{path}.key"),
            "name": self.name(raw, f"{path}.name"),
            "description": self.text(
                raw, "description", f"{path}.description", label="Description"
            ),
            "weight": self.weight(raw, f"{path}.weight"),
            "criteria": [],
        }
        raw_criteria = raw.get("criteria")
        if raw_criteria is None:
            raw_criteria = []
        if not isinstance(raw_criteria, list):
            self.add(f"{path}.criteria", "Criteria must be a list.")
            raw_criteria = []
        for j, raw_criterion in enumerate(raw_criteria):
            c_path = f"{path}.criteria.{j}"
            if not isinstance(raw_criterion, dict):
                self.add(c_path, "Each criterion must be an object.")
                continue
            section["criteria"].append(self.criterion(raw_criterion, c_path))
        return section

    def criterion(self, raw: dict[str, Any], path: str) -> dict[str, Any]:
        na_allowed = raw.get("na_allowed", False)
        if na_allowed is None:
            na_allowed = False
        if not isinstance(na_allowed, bool):
            self.add(f"{path}.na_allowed", "Must be true or false.")
            na_allowed = False
        return {
            "key": self.key(raw, f"{path}.key"),
            "name": self.name(raw, f"{path}.name"),
            "description": self.text(
                raw, "description", f"{path}.description", label="Description"
            ),
            "expected_action": self.text(
                raw, "expected_action", f"{path}.expected_action", label="Expected action"
            ),
            "required_phrases": self.phrases(raw.get("required_phrases"), path),
            "window_seconds": self.window(raw.get("window_seconds"), f"{path}.window_seconds"),
            "window_anchor": self.choice(
                raw,
                "window_anchor",
                f"{path}.window_anchor",
                WindowAnchor,
                WindowAnchor.CONVERSATION_START,
            ),
            "weight": self.weight(raw, f"{path}.weight"),
            "kind": self.choice(raw, "kind", f"{path}.kind", CriterionKind, CriterionKind.SCORED),
            "na_allowed": na_allowed,
            "applies_to": self.choice(
                raw, "applies_to", f"{path}.applies_to", AppliesTo, AppliesTo.BOTH
            ),
        }

    def window(self, value: Any, path: str) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        seconds = self.whole_number(value, path, message="The time window must be whole seconds.")
        if seconds is None:
            return None
        if seconds <= 0:
            self.add(path, "The time window must be at least 1 second.")
            return None
        if seconds > self.max_window:
            self.add(
                path,
                f"The time window is longer than any call: at most "
                f"{_pretty_seconds(self.max_window)}.",
            )
            return None
        return seconds

    def phrases(self, value: Any, path: str) -> list[dict[str, Any]]:
        path = f"{path}.required_phrases"
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, "Required phrases must be a list.")
            return []
        phrases = []
        for k, raw in enumerate(value):
            p_path = f"{path}.{k}"
            if isinstance(raw, str):  # a bare phrase takes the default tolerance
                raw = {"text": raw}
            if not isinstance(raw, dict):
                self.add(p_path, "Each phrase must be an object with text and tolerance.")
                continue
            text = self.text(raw, "text", f"{p_path}.text", label="Phrase text", required=True)
            if len(text) > PHRASE_MAX_LENGTH:
                self.add(
                    f"{p_path}.text", f"Phrase text must be at most {PHRASE_MAX_LENGTH} characters."
                )
            tolerance: int | None = DEFAULT_PHRASE_TOLERANCE
            if raw.get("tolerance") not in (None, ""):
                message = "Tolerance must be a whole number from 0 to 100."
                tolerance = self.whole_number(
                    raw["tolerance"], f"{p_path}.tolerance", message=message
                )
                if tolerance is not None and not 0 <= tolerance <= 100:
                    self.add(f"{p_path}.tolerance", message)
            phrases.append({"text": text, "tolerance": tolerance})
        return phrases

    # Publish-only: completeness and weights.

    def check_complete(self, cleaned: dict[str, Any]) -> None:
        sections = cleaned["sections"]
        if not sections:
            self.add("sections", "Add at least one section.")
            return
        for i, section in enumerate(sections):
            if not section["criteria"]:
                self.add(f"sections.{i}.criteria", "Add at least one criterion to this section.")
        kinds = {c["kind"] for s in sections for c in s["criteria"]}
        if kinds and kinds <= {CriterionKind.INFORMATIONAL}:
            self.add(
                "sections",
                "Add at least one scored or critical criterion; informational ones alone "
                "give no score.",
            )
        if cleaned["weighting"] and cleaned["critical_mode"]:
            self.check_weights(cleaned)

    def check_weights(self, cleaned: dict[str, Any]) -> None:
        weights_ok = not any(path.endswith(".weight") for path in self.errors)
        critical_mode = cleaned["critical_mode"]
        by_section = cleaned["weighting"] == Weighting.BY_SECTION
        any_counting = False
        total = Decimal(0)
        for i, section in enumerate(cleaned["sections"]):
            path = f"sections.{i}"
            counting = []
            for j, criterion in enumerate(section["criteria"]):
                c_path = f"{path}.criteria.{j}.weight"
                kind = criterion["kind"]
                if counts_in_main_score(kind, critical_mode):
                    counting.append((c_path, criterion))
                elif criterion["weight"] is not None:
                    if kind == CriterionKind.INFORMATIONAL:
                        self.add(c_path, "Informational criteria are never scored; remove it.")
                    else:
                        self.add(
                            c_path,
                            "Critical criteria give a separate pass/fail score in this "
                            "critical mode, so they carry no weight; remove it.",
                        )
            any_counting = any_counting or bool(counting)
            if by_section:
                total += self.check_section_weights(path, section, counting)
                continue
            if section["weight"] is not None:
                self.add(
                    f"{path}.weight",
                    "Sections carry no weight when weighting is by criterion; remove it.",
                )
            for c_path, criterion in counting:
                if criterion["weight"] is None:
                    self.add(c_path, "Give this criterion a weight: weighting is by criterion.")
                else:
                    total += criterion["weight"]
        if any_counting and weights_ok and total != HUNDRED:
            what = "Section" if by_section else "Criterion"
            self.add(
                "weights",
                f"{what} weights total {format_decimal(total)}%; they must total 100%.",
            )

    def check_section_weights(
        self, path: str, section: dict[str, Any], counting: list[tuple[str, dict[str, Any]]]
    ) -> Decimal:
        if not counting:
            if section["weight"] is not None:
                self.add(
                    f"{path}.weight",
                    "This section has no scored criteria, so it carries no weight; remove it.",
                )
            return Decimal(0)
        weighted = [c for _, c in counting if c["weight"] is not None]
        if weighted and len(weighted) < len(counting):
            for c_path, criterion in counting:
                if criterion["weight"] is None:
                    self.add(
                        c_path,
                        "Give this criterion a weight too, or clear the weights of this "
                        "section's criteria to share the section equally.",
                    )
        if section["weight"] is None:
            self.add(f"{path}.weight", "Give this section a weight: weighting is by section.")
            return Decimal(0)
        return section["weight"]
