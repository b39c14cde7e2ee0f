"""The rubrics API: staff read, admins change, agents and outsiders are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.rubrics.choices import AuditAction, VersionStatus
from apps.rubrics.models import Criterion, Rubric, RubricAuditEntry, RubricVersion, Section
from apps.rubrics.services import version_new_draft
from tests.fixtures.queries import queries_for
from tests.fixtures.rubrics import card_services, make_rubric

from .test_scripttext import TUTORIAL

pytestmark = pytest.mark.django_db

READERS = ["admin", "qa_analyst", "coach", "supervisor"]
NON_ADMIN_READERS = ["qa_analyst", "coach", "supervisor"]
REFUSED = ["agent_user", "outsider"]


@pytest.fixture
def rubric(world):
    """Card services: v1 published, v2 a draft copied from it."""
    rubric, _ = make_rubric(actor=world.admin, name="Card services", publish=True)
    version_new_draft(rubric=rubric, actor=world.admin)
    return rubric


def versions(rubric: Rubric) -> tuple[RubricVersion, RubricVersion]:
    return rubric.versions.get(number=1), rubric.versions.get(number=2)


def read_paths(rubric: Rubric) -> list[str]:
    v1, v2 = versions(rubric)
    return [
        "/api/rubrics/",
        f"/api/rubrics/{rubric.pk}/",
        "/api/rubrics/versions/",
        f"/api/rubrics/versions/{v1.pk}/",
        f"/api/rubrics/versions/{v2.pk}/diff/?against={v1.pk}",
        f"/api/rubrics/versions/{v1.pk}/export/?format=json",
        f"/api/rubrics/versions/{v1.pk}/export/?format=twilio",
    ]


def post(client: Client, path: str, body: Any = None):
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Rubric, RubricVersion, Section, Criterion, RubricAuditEntry)
    }


# Reading ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", READERS)
def test_staff_roles_read_rubrics_versions_diffs_and_exports(world, client_for, rubric, persona):
    client = client_for(getattr(world, persona))
    for path in read_paths(rubric):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("persona", REFUSED)
def test_agents_and_outsiders_are_refused_every_read(world, client_for, rubric, persona):
    client = client_for(getattr(world, persona))
    for path in read_paths(rubric):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response["Content-Type"].startswith("application/json"), path
        assert "detail" in response.json()


def test_anonymous_callers_are_refused(rubric):
    assert Client().get("/api/rubrics/").status_code == 403


def test_rubric_list_shows_published_and_draft_numbers(world, client_for, rubric):
    body = client_for(world.coach).get("/api/rubrics/").json()
    [row] = body["results"]
    assert (row["name"], row["published_number"], row["draft_number"]) == ("Card services", 1, 2)


def test_rubric_detail_lists_its_versions_newest_first(world, client_for, rubric):
    body = client_for(world.qa_analyst).get(f"/api/rubrics/{rubric.pk}/").json()
    assert [(v["number"], v["status"], v["based_on"]) for v in body["versions"]] == [
        (2, "DRAFT", 1),
        (1, "PUBLISHED", None),
    ]
    assert body["versions"][1]["published_by"] == "ada"


def test_version_detail_has_the_whole_structure(world, client_for, rubric):
    v1, _ = versions(rubric)
    body = client_for(world.supervisor).get(f"/api/rubrics/versions/{v1.pk}/").json()
    assert (body["rubric"], body["rubric_name"], body["number"]) == (
        rubric.pk,
        "Card services",
        1,
    )
    assert [(s["key"], s["weight"]) for s in body["sections"]] == [
        ("opening", "40"),
        ("resolution", "60"),
    ]
    greeting = body["sections"][0]["criteria"][0]
    assert greeting["required_phrases"] == [{"text": "thank you for calling", "tolerance": 80}]
    assert (greeting["window_seconds"], greeting["window_anchor"]) == (30, "AGENT_FIRST_TURN")


def test_versions_filter_by_rubric_and_status(world, client_for, rubric):
    make_rubric(actor=world.admin, name="Other")
    client = client_for(world.admin)
    rows = client.get("/api/rubrics/versions/", {"rubric": rubric.pk}).json()["results"]
    assert [r["number"] for r in rows] == [2, 1]
    rows = client.get("/api/rubrics/versions/", {"status": "DRAFT"}).json()["results"]
    assert {r["rubric"] for r in rows} == {rubric.pk, Rubric.objects.get(name="Other").pk}


def test_diff_lists_changes_against_the_named_version(world, client_for, rubric):
    v1, v2 = versions(rubric)
    from apps.rubrics.services import draft_update

    data = card_services()
    data["sections"][0]["name"] = "Welcome"
    draft_update(version=v2, actor=world.admin, data=data)
    body = client_for(world.coach).get(f"/api/rubrics/versions/{v2.pk}/diff/?against={v1.pk}")
    assert body.json() == {
        "version": v2.pk,
        "against": v1.pk,
        "changes": [
            {
                "action": "changed",
                "target": "section",
                "key": "opening",
                "name": "Welcome",
                "fields": {"name": {"before": "Opening", "after": "Welcome"}},
            }
        ],
    }


def test_diff_defaults_to_the_version_it_was_copied_from(world, client_for, rubric):
    v1, v2 = versions(rubric)
    body = client_for(world.coach).get(f"/api/rubrics/versions/{v2.pk}/diff/").json()
    assert (body["against"], body["changes"]) == (v1.pk, [])


def test_diff_refuses_a_bad_or_unknown_against(world, client_for, rubric):
    v1, v2 = versions(rubric)
    client = client_for(world.coach)
    assert client.get(f"/api/rubrics/versions/{v2.pk}/diff/?against=x").status_code == 400
    assert client.get(f"/api/rubrics/versions/{v2.pk}/diff/?against=999999").status_code == 404
    no_base = client.get(f"/api/rubrics/versions/{v1.pk}/diff/")
    assert no_base.status_code == 400
    assert list(no_base.json()["extra"]["errors"]) == ["against"]


def test_unknown_rubric_or_version_is_404(world, client_for, rubric):
    client = client_for(world.admin)
    assert client.get("/api/rubrics/999999/").status_code == 404
    assert client.get("/api/rubrics/versions/999999/").status_code == 404
    assert client.get("/api/rubrics/nope/").status_code == 404


# Export -----------------------------------------------------------------------------------------


def test_export_as_twilio_is_the_script_as_plain_text(world, client_for):
    from apps.rubrics.imports import rubric_import

    version = rubric_import(fmt="twilio", text=TUTORIAL, name="Tutorial", actor=world.admin)
    response = client_for(world.coach).get(
        f"/api/rubrics/versions/{version.pk}/export/", {"format": "twilio"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert 'filename="tutorial-v1.txt"' in response["Content-Disposition"]
    assert response.content.decode() == TUTORIAL.replace("weight:10%", "weight: 10%")


def test_export_as_json_is_the_document_that_imports_back(world, client_for, rubric):
    v1, _ = versions(rubric)
    client = client_for(world.admin)
    document = client.get(f"/api/rubrics/versions/{v1.pk}/export/?format=json").json()
    assert (document["format"], document["version"]) == ("ccportal.rubric", 1)
    assert document["source"]["rubric_slug"] == "card-services"
    response = post(
        client, "/api/rubrics/import/", {"format": "json", "document": document, "name": "Copy"}
    )
    assert response.status_code == 201, response.json()
    assert (
        response.json()["sections"]
        == client.get(f"/api/rubrics/versions/{v1.pk}/").json()["sections"]
    )


def test_export_without_a_format_is_json(world, client_for, rubric):
    v1, _ = versions(rubric)
    response = client_for(world.admin).get(f"/api/rubrics/versions/{v1.pk}/export/")
    assert response["Content-Type"] == "application/json"


def test_export_in_an_unknown_format_is_a_json_400(world, client_for, rubric):
    v1, _ = versions(rubric)
    response = client_for(world.admin).get(f"/api/rubrics/versions/{v1.pk}/export/?format=xml")
    assert response.status_code == 400
    assert response.json()["extra"]["errors"] == {"format": ["Choose one of: json, twilio."]}


def test_export_errors_are_json_also_when_text_was_asked(world, client_for, rubric):
    response = client_for(world.admin).get("/api/rubrics/versions/999999/export/?format=twilio")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


# Import -----------------------------------------------------------------------------------------


def test_admin_imports_a_twilio_script_as_a_new_rubric(world, client_for):
    response = post(
        client_for(world.admin),
        "/api/rubrics/import/",
        {"format": "twilio", "text": TUTORIAL, "name": "Tutorial"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["rubric_name"], body["number"], body["status"]) == ("Tutorial", 1, "DRAFT")
    assert [(s["name"], s["weight"]) for s in body["sections"]] == [
        ("Greeting", "10"),
        ("Verification", "20"),
        ("Resolution", "40"),
        ("Closing", "30"),
    ]
    assert RubricAuditEntry.objects.filter(action=AuditAction.IMPORT).count() == 1


def test_a_malformed_script_is_a_400_with_line_numbers_and_changes_nothing(world, client_for):
    make_rubric(actor=world.admin, publish=True)
    before = row_counts()
    text = "Category: Greeting\nAction: Greet.\nScore weight: ten\nCategory: greeting\n"
    response = post(
        client_for(world.admin),
        "/api/rubrics/import/",
        {"format": "twilio", "text": text, "name": "Broken"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_script"
    assert body["extra"]["errors"] == [
        {"line": 3, "message": "'Score weight' must be a percentage like 10%"},
        {"line": 4, "message": "duplicate category 'greeting' (already at line 1)"},
    ]
    assert row_counts() == before


def test_an_invalid_document_is_a_400_keyed_by_path_and_changes_nothing(world, client_for):
    before = row_counts()
    document = {"format": "ccportal.rubric", "version": 1, "rubric": {"name": "X"}, "sections": []}
    response = post(
        client_for(world.admin), "/api/rubrics/import/", {"format": "json", "document": document}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
    assert set(response.json()["extra"]["errors"]) == {"rubric.weighting", "rubric.critical_mode"}
    assert row_counts() == before


def test_import_request_needs_the_matching_field(world, client_for):
    response = post(
        client_for(world.admin), "/api/rubrics/import/", {"format": "twilio", "name": "x"}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"text": ["Required for format twilio."]}


def test_import_into_a_rubric_starts_its_next_draft_once(world, client_for):
    rubric, _ = make_rubric(actor=world.admin, name="Card services", publish=True)
    client = client_for(world.admin)
    path = f"/api/rubrics/{rubric.pk}/import/"
    first = post(client, path, {"format": "twilio", "text": TUTORIAL})
    assert first.status_code == 201, first.json()
    assert (first.json()["number"], first.json()["based_on"]) == (2, 1)
    again = post(client, path, {"format": "twilio", "text": TUTORIAL})
    assert again.status_code == 409
    assert again.json()["code"] == "draft_exists"


# Lifecycle actions ------------------------------------------------------------------------------


def test_admin_publishes_a_draft_and_the_old_version_retires(world, client_for, rubric):
    v1, v2 = versions(rubric)
    response = post(client_for(world.admin), f"/api/rubrics/versions/{v2.pk}/publish/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == VersionStatus.PUBLISHED
    v1.refresh_from_db()
    assert v1.status == VersionStatus.RETIRED


def test_publishing_an_unfinished_draft_is_a_400_with_its_problems(world, client_for):
    _, draft = make_rubric(
        actor=world.admin, data={"weighting": "BY_SECTION", "critical_mode": "FAIL_CONVERSATION"}
    )
    response = post(client_for(world.admin), f"/api/rubrics/versions/{draft.pk}/publish/")
    assert response.status_code == 400
    assert "sections" in response.json()["extra"]["errors"]


def test_publishing_a_published_version_is_a_409(world, client_for, rubric):
    v1, _ = versions(rubric)
    response = post(client_for(world.admin), f"/api/rubrics/versions/{v1.pk}/publish/")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_admin_retires_the_published_version(world, client_for, rubric):
    v1, v2 = versions(rubric)
    client = client_for(world.admin)
    assert post(client, f"/api/rubrics/versions/{v2.pk}/retire/").status_code == 409
    response = post(client, f"/api/rubrics/versions/{v1.pk}/retire/")
    assert response.status_code == 200
    assert response.json()["status"] == VersionStatus.RETIRED


def test_admin_starts_a_new_draft_and_discards_it(world, client_for):
    rubric, _ = make_rubric(actor=world.admin, publish=True)
    client = client_for(world.admin)
    created = post(client, f"/api/rubrics/{rubric.pk}/new-draft/")
    assert created.status_code == 201
    assert (created.json()["number"], created.json()["status"]) == (2, "DRAFT")
    assert post(client, f"/api/rubrics/{rubric.pk}/new-draft/").status_code == 409
    discarded = post(client, f"/api/rubrics/versions/{created.json()['id']}/discard/")
    assert discarded.status_code == 204
    assert list(rubric.versions.values_list("number", flat=True)) == [1]


@pytest.mark.parametrize("persona", [*NON_ADMIN_READERS, *REFUSED])
def test_only_admins_may_change_rubrics(world, client_for, rubric, persona):
    v1, v2 = versions(rubric)
    client = client_for(getattr(world, persona))
    before = row_counts()
    writes = [
        ("/api/rubrics/import/", {"format": "twilio", "text": TUTORIAL, "name": "T"}),
        (f"/api/rubrics/{rubric.pk}/import/", {"format": "twilio", "text": TUTORIAL}),
        (f"/api/rubrics/{rubric.pk}/new-draft/", None),
        (f"/api/rubrics/versions/{v2.pk}/publish/", None),
        (f"/api/rubrics/versions/{v1.pk}/retire/", None),
        (f"/api/rubrics/versions/{v2.pk}/discard/", None),
        (f"/api/rubrics/versions/{v1.pk}/push-to-twilio/", None),
    ]
    for path, body in writes:
        response = post(client, path, body)
        assert response.status_code == 403, path
        assert response["Content-Type"].startswith("application/json"), path
    assert row_counts() == before


def test_reads_are_read_only(world, client_for, rubric):
    client = client_for(world.admin)
    assert client.delete(f"/api/rubrics/{rubric.pk}/").status_code == 405
    assert post(client, "/api/rubrics/", {"name": "x"}).status_code == 405


# Query counts -----------------------------------------------------------------------------------


def test_lists_and_details_take_a_fixed_number_of_queries(world, client_for, rubric):
    client = client_for(world.admin)
    paths = ["/api/rubrics/", f"/api/rubrics/{rubric.pk}/", "/api/rubrics/versions/"]
    small = {path: queries_for(client, path) for path in paths}
    for n in range(3):
        other, _ = make_rubric(actor=world.admin, name=f"More {n}", publish=True)
        version_new_draft(rubric=other, actor=world.admin)
    assert {path: queries_for(client, path) for path in paths} == small


def test_schema_documents_the_rubric_routes(world, client_for):
    schema = client_for(world.admin).get("/api/schema/", {"format": "json"}).json()
    for path in [
        "/api/rubrics/",
        "/api/rubrics/{id}/",
        "/api/rubrics/import/",
        "/api/rubrics/{id}/import/",
        "/api/rubrics/{id}/new-draft/",
        "/api/rubrics/versions/",
        "/api/rubrics/versions/{id}/",
        "/api/rubrics/versions/{id}/diff/",
        "/api/rubrics/versions/{id}/export/",
        "/api/rubrics/versions/{id}/publish/",
        "/api/rubrics/versions/{id}/retire/",
        "/api/rubrics/versions/{id}/discard/",
        "/api/rubrics/versions/{id}/push-to-twilio/",
    ]:
        assert path in schema["paths"], path
    export = schema["paths"]["/api/rubrics/versions/{id}/export/"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"application/json", "text/plain"}
