"""The ccportal.rubric JSON document: export, import with path-keyed errors, round trips."""

from __future__ import annotations

import copy
import json

import pytest

from apps.common.errors import ValidationFailed
from apps.rubrics.choices import AuditAction
from apps.rubrics.imports import rubric_import
from apps.rubrics.jsonformat import data_from_document, export_document
from apps.rubrics.models import Criterion, Rubric, RubricAuditEntry, RubricVersion, Section
from apps.rubrics.selectors import version_data
from apps.rubrics.validation import clean_structure
from tests.fixtures.rubrics import card_services, make_rubric


def cleaned_card_services(**extra):
    data, errors = clean_structure(card_services() | extra)
    assert errors == {}
    return data


def document(**rubric):
    data = cleaned_card_services(name="Card services", description="Cards", notes="v1")
    doc = export_document(data)
    doc["rubric"].update(rubric)
    return doc


def errors_of(doc) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        data_from_document(doc)
    return caught.value.errors


def test_export_writes_the_envelope_and_every_field():
    doc = document()
    assert (doc["format"], doc["version"]) == ("ccportal.rubric", 1)
    assert doc["rubric"] == {
        "name": "Card services",
        "description": "Cards",
        "notes": "v1",
        "weighting": "BY_SECTION",
        "critical_mode": "FAIL_CONVERSATION",
    }
    greeting = doc["sections"][0]["criteria"][0]
    assert greeting == {
        "key": "greeting",
        "name": "Greeting",
        "description": "",
        "expected_action": "",
        "required_phrases": [{"text": "thank you for calling", "tolerance": 80}],
        "window_seconds": 30,
        "window_anchor": "AGENT_FIRST_TURN",
        "weight": None,
        "kind": "SCORED",
        "na_allowed": False,
        "applies_to": "BOTH",
    }
    assert doc["sections"][0]["weight"] == "40"


def test_export_is_json_and_round_trips_to_the_same_data():
    data = cleaned_card_services(name="Card services", description="Cards", notes="v1")
    text = json.dumps(export_document(data, source={"rubric_id": 1}))
    assert data_from_document(json.loads(text)) == data


def test_minimal_document_takes_the_defaults():
    doc = {
        "format": "ccportal.rubric",
        "version": 1,
        "rubric": {"name": "Tiny", "weighting": "BY_SECTION", "critical_mode": "SEPARATE_SCORE"},
        "sections": [
            {
                "key": "Opening",
                "name": "Opening",
                "weight": 100,
                "criteria": [{"key": "Greet", "name": "Greet"}],
            }
        ],
    }
    data = data_from_document(doc)
    assert data["name"] == "Tiny"
    criterion = data["sections"][0]["criteria"][0]
    assert (criterion["key"], criterion["kind"], criterion["required_phrases"]) == (
        "greet",
        "SCORED",
        [],
    )


def test_source_is_ignored_on_import():
    doc = document()
    doc["source"] = {"rubric_id": 99, "anything": "goes"}
    assert data_from_document(doc)["name"] == "Card services"


@pytest.mark.parametrize(
    ("doc", "errors"),
    [
        ([], {"__all__": ["The document must be a JSON object."]}),
        (
            {"format": "other"},
            {"format": ['Expected "ccportal.rubric"; this is not a ccportal rubric document.']},
        ),
        (
            {"format": "ccportal.rubric", "version": 2},
            {"version": ["Unsupported format version 2; this portal reads version 1."]},
        ),
    ],
)
def test_a_foreign_document_is_refused_by_its_envelope(doc, errors):
    assert errors_of(doc) == errors


def test_content_errors_are_keyed_by_their_path_in_the_document():
    doc = document(weighting="SIDEWAYS")
    doc["sections"][1]["criteria"][2]["kind"] = "MAYBE"
    doc["sections"][0]["weight"] = "forty"
    doc["sections"][1]["criteria"][0]["required_phrases"] = [{"text": "", "tolerance": 200}]
    errors = errors_of(doc)
    assert list(errors) == [
        "rubric.weighting",
        "sections.0.weight",
        "sections.1.criteria.0.required_phrases.0.text",
        "sections.1.criteria.0.required_phrases.0.tolerance",
        "sections.1.criteria.2.kind",
    ]
    assert errors["sections.0.weight"] == ["Weight must be a number."]


def test_unknown_fields_are_errors_at_their_path():
    doc = document()
    doc["rubric"]["weigthing"] = "BY_SECTION"
    doc["sections"][0]["criteria"][0]["colour"] = "red"
    doc["sections"][0]["criteria"][0]["required_phrases"][0]["fuzz"] = 3
    doc["extra"] = 1
    assert errors_of(doc) == {
        "extra": ["Unknown field."],
        "rubric.weigthing": ["Unknown field."],
        "sections.0.criteria.0.colour": ["Unknown field."],
        "sections.0.criteria.0.required_phrases.0.fuzz": ["Unknown field."],
    }


def test_missing_rubric_and_sections_are_reported():
    errors = errors_of({"format": "ccportal.rubric", "version": 1})
    assert set(errors) >= {"rubric", "sections", "rubric.name", "rubric.weighting"}


def test_a_draft_with_unfinished_weights_is_accepted():
    doc = document()
    doc["sections"][0]["weight"] = None
    assert data_from_document(doc)["sections"][0]["weight"] is None


# The import service -----------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Rubric, RubricVersion, Section, Criterion, RubricAuditEntry)
    }


@pytest.mark.django_db
def test_an_exported_version_imports_as_a_new_rubric_with_the_same_content(world):
    rubric, version = make_rubric(actor=world.admin, name="Card services", publish=True)
    doc = json.loads(json.dumps(export_document(version_data(version=version))))
    doc["rubric"]["name"] = "Card services (copy)"
    imported = rubric_import(fmt="json", document=doc, actor=world.admin)
    assert imported.rubric != rubric
    original, copied = version_data(version=version), version_data(version=imported)
    assert copied == original | {"name": "Card services (copy)"}
    entry = RubricAuditEntry.objects.get(action=AuditAction.IMPORT)
    assert entry.version == imported
    assert entry.changes["source"] == {"format": "json", "exported_from": None}


@pytest.mark.django_db
def test_name_given_with_the_import_overrides_the_documents(world):
    version = rubric_import(fmt="json", document=document(), name="Renamed", actor=world.admin)
    assert version.rubric.name == "Renamed"
    assert version.rubric.description == "Cards"


@pytest.mark.django_db
def test_a_document_with_errors_changes_nothing(world):
    make_rubric(actor=world.admin, publish=True)
    before = row_counts()
    doc = document()
    doc["sections"][1]["criteria"][0]["window_seconds"] = -5
    with pytest.raises(ValidationFailed) as caught:
        rubric_import(fmt="json", document=doc, actor=world.admin)
    assert list(caught.value.errors) == ["sections.1.criteria.0.window_seconds"]
    assert row_counts() == before


@pytest.mark.django_db
def test_a_taken_name_changes_nothing(world):
    make_rubric(actor=world.admin, name="Card services")
    before = row_counts()
    with pytest.raises(ValidationFailed) as caught:
        rubric_import(fmt="json", document=document(), actor=world.admin)
    assert list(caught.value.errors) == ["name"]
    assert row_counts() == before


@pytest.mark.django_db
def test_importing_into_an_existing_rubric_keeps_its_name(world):
    rubric, _ = make_rubric(actor=world.admin, name="Ours", publish=True)
    doc = document(name="Theirs", description="Not ours")
    draft = rubric_import(fmt="json", document=copy.deepcopy(doc), rubric=rubric, actor=world.admin)
    rubric.refresh_from_db()
    assert (rubric.name, draft.number) == ("Ours", 2)
