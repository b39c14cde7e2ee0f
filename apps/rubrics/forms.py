"""Forms of the rubric pages: creating a rubric, and the draft editor's path-named fields.

The editor is one HTML form whose fields are named by their place in the editable format
(``apps.rubrics.validation``): ``notes``, ``sections-0-weight``,
``sections-0-criteria-1-key``, ``sections-0-criteria-1-phrases-2-tolerance``. ``editor_data``
rebuilds the nested dict from a POST (lists in index order, so positions follow the page);
``editor_rows`` turns that dict and the ``{path: [message]}`` errors of ``validate_structure``
back into rows for the template, each field with its own messages, so a page re-rendered after
an error shows exactly what was typed with every message next to its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.http import QueryDict

from .choices import AppliesTo, CriterionKind, CriticalMode, Weighting, WindowAnchor
from .structure import CRITERION_FIELDS as ALL_CRITERION_FIELDS
from .structure import DEFAULT_PHRASE_TOLERANCE, NAME_MAX_LENGTH, counts_in_main_score
from .validation import normalise_key


class RubricCreateForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "Card services script"}),
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Which calls this rubric is for, and who owns it"}
        ),
    )


MAX_IMPORT_BYTES = 1_000_000


class RubricImportForm(forms.Form):
    """A Twilio Script Adherence script or a ccportal JSON document, pasted or uploaded.

    ``name`` and ``description`` only apply to a new rubric (a script has no name; a document
    names its rubric and ``name`` overrides it).
    """

    format = forms.ChoiceField(
        choices=[("twilio", "Twilio script"), ("json", "JSON document")],
        initial="twilio",
        widget=forms.RadioSelect,
    )
    text = forms.CharField(required=False, strip=False, label="Paste it here")
    file = forms.FileField(required=False, label="…or upload a file")
    name = forms.CharField(required=False, max_length=NAME_MAX_LENGTH)
    description = forms.CharField(required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > MAX_IMPORT_BYTES:
                self.add_error("file", "The file is larger than 1 MB; is it a rubric?")
                return cleaned
            try:
                cleaned["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("file", "The file is not UTF-8 text.")
                return cleaned
        if not (cleaned.get("text") or "").strip():
            self.add_error("text", "Paste the script or document, or choose a file.")
        return cleaned


SECTION_FIELDS = ("key", "name", "description", "weight")
# The phrases of a criterion have rows of their own (PHRASE_FIELDS).
CRITERION_FIELDS = tuple(name for name in ALL_CRITERION_FIELDS if name != "required_phrases")
PHRASE_FIELDS = ("text", "tolerance")
TOP_FIELDS = ("name", "description", "notes", "weighting", "critical_mode")

_SECTION = re.compile(rf"sections-(\d{{1,4}})-({'|'.join(SECTION_FIELDS)})")
_CRITERION = re.compile(
    rf"sections-(\d{{1,4}})-criteria-(\d{{1,4}})-({'|'.join(CRITERION_FIELDS)})"
)
_PHRASE = re.compile(
    rf"sections-(\d{{1,4}})-criteria-(\d{{1,4}})-phrases-(\d{{1,4}})-({'|'.join(PHRASE_FIELDS)})"
)
_CHECKED = {"on", "true", "1", "yes"}


def editor_data(post: QueryDict) -> dict[str, Any]:
    """The nested editable dict from the editor's POST, values as typed (validation cleans).

    A blank key takes the normalised name (the page says so); a phrase row with no text is
    dropped (an "Add phrase" click left empty); an unchecked N/A box is False.
    """
    data: dict[str, Any] = {name: post.get(name, "") for name in TOP_FIELDS if name in post}
    sections: dict[int, dict[str, Any]] = {}
    criteria: dict[tuple[int, int], dict[str, Any]] = {}
    phrases: dict[tuple[int, int, int], dict[str, Any]] = {}
    for name in post:
        value = post.get(name, "")
        if match := _SECTION.fullmatch(name):
            sections.setdefault(int(match[1]), {})[match[2]] = value
        elif match := _CRITERION.fullmatch(name):
            i, j = int(match[1]), int(match[2])
            sections.setdefault(i, {})
            criteria.setdefault((i, j), {})[match[3]] = value
        elif match := _PHRASE.fullmatch(name):
            i, j, k = int(match[1]), int(match[2]), int(match[3])
            sections.setdefault(i, {})
            criteria.setdefault((i, j), {})
            phrases.setdefault((i, j, k), {})[match[4]] = value
    for (i, j, _k), phrase in sorted(phrases.items()):
        if str(phrase.get("text", "")).strip():
            criteria[(i, j)].setdefault("required_phrases", []).append(
                {"text": phrase.get("text", ""), "tolerance": phrase.get("tolerance", "")}
            )
    for (i, _j), criterion in sorted(criteria.items()):
        criterion["na_allowed"] = str(criterion.get("na_allowed", "")).lower() in _CHECKED
        criterion.setdefault("required_phrases", [])
        _key_from_name(criterion)
        sections[i].setdefault("criteria", []).append(criterion)
    data["sections"] = []
    for _i, section in sorted(sections.items()):
        section.setdefault("criteria", [])
        _key_from_name(section)
        data["sections"].append(section)
    return data


def _key_from_name(item: dict[str, Any]) -> None:
    if not str(item.get("key", "")).strip() and str(item.get("name", "")).strip():
        item["key"] = normalise_key(item["name"])


@dataclass
class Row:
    """One section, criterion or phrase of the editor: its name prefix, values and messages."""

    prefix: str
    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)
    children: list[Row] = field(default_factory=list)
    phrases: list[Row] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:  # templates read values as attributes
        try:
            return self.__dict__["values"][name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    @property
    def own_errors(self) -> list[str]:
        return self.errors.get("", [])

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(
            child.has_errors for child in [*self.children, *self.phrases]
        )


def _field_errors(errors: dict[str, list[str]], path: str) -> dict[str, list[str]]:
    """The messages of ``path`` itself ("") and of its direct fields ("weight", "key"…)."""
    found: dict[str, list[str]] = {}
    for error_path, messages in errors.items():
        if error_path == path:
            found.setdefault("", []).extend(messages)
        elif error_path.startswith(path + "."):
            rest = error_path[len(path) + 1 :]
            if "." not in rest:
                found.setdefault(rest, []).extend(messages)
    return found


def editor_rows(data: dict[str, Any], errors: dict[str, list[str]]) -> list[Row]:
    """The sections of ``data`` as :class:`Row` trees, each with its fields' messages."""
    rows = []
    for i, section in enumerate(_list(data.get("sections"))):
        if not isinstance(section, dict):
            continue
        path = f"sections.{i}"
        row = Row(
            prefix=f"sections-{i}",
            values={name: _text(section.get(name)) for name in SECTION_FIELDS},
            errors=_field_errors(errors, path),
        )
        for j, criterion in enumerate(_list(section.get("criteria"))):
            if not isinstance(criterion, dict):
                continue
            c_path = f"{path}.criteria.{j}"
            values: dict[str, Any] = {name: _text(criterion.get(name)) for name in CRITERION_FIELDS}
            values["na_allowed"] = criterion.get("na_allowed") is True
            values["kind"] = values["kind"] or CriterionKind.SCORED
            values["applies_to"] = values["applies_to"] or AppliesTo.BOTH
            values["window_anchor"] = values["window_anchor"] or WindowAnchor.CONVERSATION_START
            c_row = Row(
                prefix=f"sections-{i}-criteria-{j}",
                values=values,
                errors=_field_errors(errors, c_path),
            )
            for k, phrase in enumerate(_list(criterion.get("required_phrases"))):
                if isinstance(phrase, str):
                    phrase = {"text": phrase}
                if not isinstance(phrase, dict):
                    continue
                p_path = f"{c_path}.required_phrases.{k}"
                tolerance = phrase.get("tolerance")
                c_row.phrases.append(
                    Row(
                        prefix=f"sections-{i}-criteria-{j}-phrases-{k}",
                        values={
                            "text": _text(phrase.get("text")),
                            "tolerance": _text(
                                DEFAULT_PHRASE_TOLERANCE if tolerance is None else tolerance
                            ),
                        },
                        errors=_field_errors(errors, p_path),
                    )
                )
            row.children.append(c_row)
        rows.append(row)
    return rows


def blank_section(prefix: str) -> Row:
    return Row(prefix=prefix, values=dict.fromkeys(SECTION_FIELDS, ""))


def blank_criterion(prefix: str) -> Row:
    values: dict[str, Any] = dict.fromkeys(CRITERION_FIELDS, "")
    values |= {
        "na_allowed": False,
        "kind": CriterionKind.SCORED,
        "applies_to": AppliesTo.BOTH,
        "window_anchor": WindowAnchor.CONVERSATION_START,
    }
    return Row(prefix=prefix, values=values)


def blank_phrase(prefix: str) -> Row:
    return Row(prefix=prefix, values={"text": "", "tolerance": str(DEFAULT_PHRASE_TOLERANCE)})


@dataclass(frozen=True)
class Totals:
    """Weight totals as typed, for the indicators (the page's script keeps them live)."""

    overall: Decimal | None
    by_section: dict[int, Decimal]

    @property
    def overall_ok(self) -> bool:
        return self.overall == 100


def weight_totals(data: dict[str, Any]) -> Totals:
    """Section weights (BY_SECTION) or counting criteria's weights (BY_CRITERION), summed.

    Per section: the sum of its counting criteria's weights (relative in BY_SECTION). Values
    that are not numbers count as 0; the field's own message says what is wrong with them.
    """
    by_section_mode = data.get("weighting") != Weighting.BY_CRITERION
    critical_mode = data.get("critical_mode") or CriticalMode.FAIL_CONVERSATION
    overall = Decimal(0)
    per_section: dict[int, Decimal] = {}
    for i, section in enumerate(_list(data.get("sections"))):
        if not isinstance(section, dict):
            continue
        subtotal = Decimal(0)
        for criterion in _list(section.get("criteria")):
            if isinstance(criterion, dict) and counts_in_main_score(
                criterion.get("kind") or CriterionKind.SCORED, critical_mode
            ):
                subtotal += _number(criterion.get("weight"))
        per_section[i] = subtotal
        overall += _number(section.get("weight")) if by_section_mode else subtotal
    return Totals(overall=overall, by_section=per_section)


def _number(value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip()) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return number if number.is_finite() else Decimal(0)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    return str(value)
