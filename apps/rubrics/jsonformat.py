"""Rubric versions as a versioned JSON document, for export, backup and moving between portals.

Format ``ccportal.rubric``, version 1. Every field of a version's content is there, so an export
imported again gives the same content (a Twilio script cannot carry kinds, windows or N/A
rules; this can)::

    {
      "format": "ccportal.rubric",
      "version": 1,
      "rubric": {
        "name": "Card services",
        "description": "",
        "notes": "What this version changes",
        "weighting": "BY_SECTION",               // or "BY_CRITERION"
        "critical_mode": "FAIL_CONVERSATION"     // or "SEPARATE_SCORE"
      },
      "sections": [
        {"key": "opening", "name": "Opening", "description": "The goal", "weight": "40",
         "criteria": [
           {"key": "greeting", "name": "Greets the caller", "description": "",
            "expected_action": "", "required_phrases": [{"text": "thank you for calling",
            "tolerance": 85}], "window_seconds": 30, "window_anchor": "AGENT_FIRST_TURN",
            "weight": null, "kind": "SCORED", "na_allowed": false, "applies_to": "BOTH"}]}
      ],
      "source": {"rubric_id": 3, "rubric_slug": "card-services", "version_number": 2,
                 "status": "PUBLISHED", "exported_at": "2026-05-18T20:43:10Z"}
    }

Field meanings and defaults are those of the editable format (``apps.rubrics.validation``):
optional fields may be left out; weights are strings or numbers. ``source`` is written on
export for people and ignored on import.

Import (:func:`data_from_document`) checks the envelope and every field and raises
``ValidationFailed`` with messages keyed by their path in the document ("format",
"rubric.weighting", "sections.0.criteria.2.kind", "sections.1.weight"...). Unknown fields are
errors rather than silently dropped, so a misspelt field cannot vanish. Content is checked at
draft level (as ``services.draft_update`` saves it): a document may carry an unfinished draft;
publishing checks the rest.
"""

from __future__ import annotations

from typing import Any

from apps.common.errors import ValidationFailed

from .structure import CRITERION_FIELDS, jsonable
from .validation import Errors, clean_structure

FORMAT = "ccportal.rubric"
FORMAT_VERSION = 1

_TOP_FIELDS = {"format", "version", "rubric", "sections", "source"}
_RUBRIC_FIELDS = ("name", "description", "notes", "weighting", "critical_mode")
_SECTION_FIELDS = ("key", "name", "description", "weight", "criteria")

_PHRASE_FIELDS = ("text", "tolerance")

# Editable-format error paths that live under "rubric" in the document.
_RUBRIC_PATHS = {"name", "description", "notes", "weighting", "critical_mode"}


def export_document(
    data: dict[str, Any], *, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The document for ``data`` (``selectors.version_data``), JSON-ready."""
    data = jsonable(data)
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "rubric": {field: data.get(field, "") for field in _RUBRIC_FIELDS},
        "sections": [
            {
                **{field: section[field] for field in _SECTION_FIELDS if field != "criteria"},
                "criteria": [
                    {field: criterion[field] for field in CRITERION_FIELDS}
                    for criterion in section["criteria"]
                ],
            }
            for section in data["sections"]
        ],
    }
    if source is not None:
        document["source"] = jsonable(source)
    return document


def data_from_document(document: Any) -> dict[str, Any]:
    """The cleaned editable data in ``document`` (with the rubric's name and description), or
    ``ValidationFailed`` with path-keyed errors."""
    errors: Errors = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(document, dict):
        raise ValidationFailed({"__all__": ["The document must be a JSON object."]})
    if document.get("format") != FORMAT:
        add("format", f'Expected "{FORMAT}"; this is not a ccportal rubric document.')
        raise ValidationFailed(errors)
    version = document.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        add(
            "version",
            f"Unsupported format version {version!r}; this portal reads version {FORMAT_VERSION}.",
        )
        raise ValidationFailed(errors)
    _unknown(document, _TOP_FIELDS, "", add)
    rubric = document.get("rubric")
    if not isinstance(rubric, dict):
        add("rubric", "Required: an object with the rubric's name and scoring modes.")
        rubric = {}
    _unknown(rubric, _RUBRIC_FIELDS, "rubric.", add)
    sections = document.get("sections")
    if sections is None:
        add("sections", "Required: the list of sections (it may be empty).")
    elif isinstance(sections, list):
        for i, section in enumerate(sections):
            if not isinstance(section, dict):
                continue  # clean_structure reports it
            _unknown(section, _SECTION_FIELDS, f"sections.{i}.", add)
            criteria = section.get("criteria")
            for j, criterion in enumerate(criteria if isinstance(criteria, list) else []):
                if not isinstance(criterion, dict):
                    continue
                c_path = f"sections.{i}.criteria.{j}."
                _unknown(criterion, CRITERION_FIELDS, c_path, add)
                phrases = criterion.get("required_phrases")
                for k, phrase in enumerate(phrases if isinstance(phrases, list) else []):
                    if isinstance(phrase, dict):
                        _unknown(phrase, _PHRASE_FIELDS, f"{c_path}required_phrases.{k}.", add)

    data = {field: rubric[field] for field in _RUBRIC_FIELDS if field in rubric}
    data.setdefault("name", "")  # a document always names its rubric
    data["sections"] = sections
    cleaned, problems = clean_structure(data, publishing=False)
    for path, messages in problems.items():
        target = f"rubric.{path}" if path in _RUBRIC_PATHS else path
        for message in messages:
            add(target, message)
    if errors:
        raise ValidationFailed(dict(sorted(errors.items(), key=lambda item: _order(item[0]))))
    return cleaned


def _unknown(item: dict[str, Any], known: Any, prefix: str, add: Any) -> None:
    for field in item:
        if field not in known:
            add(f"{prefix}{field}", "Unknown field.")


def _order(path: str) -> tuple[Any, ...]:
    """Sort paths as they appear in the document: numbers numerically."""
    return tuple(
        (0, int(part), "") if part.isdecimal() else (1, 0, part) for part in path.split(".")
    )
