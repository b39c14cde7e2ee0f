"""The rubric pages as people use them: who may open what, and the admin's whole workflow.

Writes are for admins; QA analysts, coaches and supervisors read; agents and people without a
role get the 403 page on every rubric URL, before anything is looked up.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.html import Element, parse_html
from django.urls import reverse

from apps.rubrics import selectors, services
from apps.rubrics.models import Rubric, RubricAuditEntry, RubricVersion
from tests.fixtures import builders
from tests.fixtures.queries import queries_for
from tests.fixtures.rubrics import card_services, content, criterion, make_rubric, section

pytestmark = pytest.mark.django_db

READERS = ["admin", "qa_analyst", "coach", "supervisor"]
REFUSED = ["agent_user", "outsider"]


# Helpers


def url(name: str, *args: Any) -> str:
    return reverse(name, args=args)


def editor_post(data: dict[str, Any]) -> dict[str, str]:
    """``data`` (the editable format) as the editor's path-named form fields."""
    post: dict[str, str] = {}
    for name in ("name", "description", "notes", "weighting", "critical_mode"):
        if data.get(name) is not None:
            post[name] = str(data[name])
    for i, s in enumerate(data.get("sections", [])):
        for name in ("key", "name", "description", "weight"):
            post[f"sections-{i}-{name}"] = "" if s.get(name) is None else str(s[name])
        for j, c in enumerate(s.get("criteria", [])):
            prefix = f"sections-{i}-criteria-{j}"
            for name in (
                "key",
                "name",
                "description",
                "expected_action",
                "window_seconds",
                "window_anchor",
                "weight",
                "kind",
                "applies_to",
            ):
                post[f"{prefix}-{name}"] = "" if c.get(name) is None else str(c[name])
            if c.get("na_allowed"):
                post[f"{prefix}-na_allowed"] = "on"
            for k, p in enumerate(c.get("required_phrases", [])):
                post[f"{prefix}-phrases-{k}-text"] = p["text"]
                post[f"{prefix}-phrases-{k}-tolerance"] = str(p.get("tolerance", ""))
    return post


def _walk(node: Any, parents: tuple[Element, ...] = ()):
    if isinstance(node, Element):
        yield node, parents
        for child in node.children:
            yield from _walk(child, (*parents, node))


def _text(node: Any) -> str:
    if isinstance(node, str):
        return node
    return " ".join(" ".join(_text(child) for child in node.children).split())


def _classes(element: Element) -> list[str]:
    return (dict(element.attributes).get("class") or "").split()


def field_block(response, field_id: str) -> str:
    """The text of the form group around the field ``field_id``: its label, value and messages."""
    for element, parents in _walk(parse_html(response.content.decode())):
        if dict(element.attributes).get("id") != field_id:
            continue
        for parent in reversed(parents):
            classes = _classes(parent)
            if parent.name in ("div", "li", "fieldset") and any(
                c.startswith("col") or c in ("phrase-editor", "tolerance-field") for c in classes
            ):
                return _text(parent)
        raise AssertionError(f"#{field_id} is not inside a form group")
    raise AssertionError(f"no #{field_id} on the page")


def field(response, field_id: str) -> dict[str, str]:
    for element, _ in _walk(parse_html(response.content.decode())):
        attributes = dict(element.attributes)
        if attributes.get("id") == field_id:
            return {**attributes, "text": _text(element)}
    raise AssertionError(f"no #{field_id} on the page")


def by_testid(response, testid: str) -> list[str]:
    return [
        _text(element)
        for element, _ in _walk(parse_html(response.content.decode()))
        if dict(element.attributes).get("data-testid") == testid
    ]


def main_fields(response) -> list[str]:
    """Form fields a person could type into inside the page's main content."""
    main = next(
        e
        for e, _ in _walk(parse_html(response.content.decode()))
        if dict(e.attributes).get("id") == "main"
    )
    return [
        e.name
        for e, _ in _walk(main)
        if e.name in ("textarea", "select")
        or (e.name == "input" and dict(e.attributes).get("type") != "hidden")
    ]


@pytest.fixture
def published(world):
    """Card services, version 1 published by the admin."""
    return make_rubric(actor=world.admin, name="Card services", publish=True)


@pytest.fixture
def admin(world, client_for) -> Client:
    return client_for(world.admin)


# Permissions, in one place


def every_url(rubric: Rubric) -> list[tuple[str, str]]:
    pk = rubric.pk
    return [
        ("GET", url("rubric-list")),
        ("GET", url("rubric-create")),
        ("POST", url("rubric-create")),
        ("GET", url("rubric-detail", pk)),
        ("POST", url("rubric-new-draft", pk)),
        ("GET", url("rubric-diff", pk)),
        ("GET", url("rubric-audit", pk)),
        ("GET", url("rubric-version", pk, 1)),
        ("GET", url("rubric-version-edit", pk, 1)),
        ("POST", url("rubric-version-edit", pk, 1)),
        ("GET", url("rubric-version-publish", pk, 1)),
        ("POST", url("rubric-version-publish", pk, 1)),
        ("GET", url("rubric-version-retire", pk, 1)),
        ("POST", url("rubric-version-retire", pk, 1)),
        ("GET", url("rubric-version-discard", pk, 1)),
        ("POST", url("rubric-version-discard", pk, 1)),
        ("GET", url("rubric-version-preview", pk, 1)),
        ("GET", url("rubric-detail", 999_999)),  # no such rubric: still 403, ids do not leak
    ]


@pytest.mark.parametrize("persona", REFUSED)
def test_agents_and_people_without_a_role_get_403_on_every_rubric_url(
    world, client_for, published, persona
):
    client = client_for(getattr(world, persona))

    for method, address in every_url(published[0]):
        response = client.post(address) if method == "POST" else client.get(address)
        assert response.status_code == 403, (method, address)
        assert b"You don't have access to this page" in response.content
    assert published[0].versions.get().status == "PUBLISHED"


@pytest.mark.parametrize("persona", ["qa_analyst", "coach", "supervisor"])
def test_staff_who_read_get_403_on_every_write_and_on_the_history(
    world, client_for, published, persona
):
    client = client_for(getattr(world, persona))
    pk = published[0].pk
    writes = [
        ("GET", url("rubric-create")),
        ("POST", url("rubric-create")),
        ("POST", url("rubric-new-draft", pk)),
        ("GET", url("rubric-audit", pk)),
        ("GET", url("rubric-version-edit", pk, 1)),
        ("POST", url("rubric-version-edit", pk, 1)),
        ("POST", url("rubric-version-publish", pk, 1)),
        ("POST", url("rubric-version-retire", pk, 1)),
        ("POST", url("rubric-version-discard", pk, 1)),
    ]

    for method, address in writes:
        response = client.post(address) if method == "POST" else client.get(address)
        assert response.status_code == 403, (method, address)
    assert RubricVersion.objects.count() == 1
    assert Rubric.objects.count() == 1


@pytest.mark.parametrize("persona", READERS)
def test_staff_read_the_list_the_rubric_its_versions_the_diff_and_the_preview(
    world, client_for, published, persona
):
    rubric, _ = published
    client = client_for(getattr(world, persona))
    reads = [
        url("rubric-list"),
        url("rubric-detail", rubric.pk),
        url("rubric-version", rubric.pk, 1),
        url("rubric-diff", rubric.pk),
        url("rubric-version-preview", rubric.pk, 1),
    ]

    for address in reads:
        response = client.get(address)
        assert response.status_code == 200, address
        assert b"Card services" in response.content


@pytest.mark.parametrize(
    ("persona", "shown"), [*((p, True) for p in READERS), *((p, False) for p in REFUSED)]
)
def test_the_rubrics_link_is_in_the_navigation_for_staff_only(world, client_for, persona, shown):
    response = client_for(getattr(world, persona)).get(url("conversation-list"))

    assert (f'href="{url("rubric-list")}"'.encode() in response.content) is shown


def test_signed_out_visitors_are_sent_to_the_login_page(published):
    address = url("rubric-version", published[0].pk, 1)

    response = Client().get(address)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={address}"


def test_read_only_staff_see_no_write_buttons(world, client_for, published):
    rubric, _ = published
    services.version_new_draft(rubric=rubric, actor=world.admin)

    detail = client_for(world.qa_analyst).get(url("rubric-detail", rubric.pk)).content.decode()
    listing = client_for(world.qa_analyst).get(url("rubric-list")).content.decode()

    assert url("rubric-version-edit", rubric.pk, 2) not in detail
    assert url("rubric-version-publish", rubric.pk, 2) not in detail
    assert url("rubric-audit", rubric.pk) not in detail
    assert url("rubric-create") not in listing
    assert url("rubric-version", rubric.pk, 2) in listing  # the draft, read-only


# The list


def test_the_empty_list_invites_an_admin_to_create_the_first_rubric(world, admin):
    response = admin.get(url("rubric-list"))

    assert by_testid(response, "empty-rubrics")
    assert "New rubric" in by_testid(response, "empty-rubrics")[0]
    assert url("rubric-create") in response.content.decode()


def test_the_empty_list_has_no_call_to_action_for_readers(world, client_for):
    response = client_for(world.coach).get(url("rubric-list"))

    assert "New rubric" not in by_testid(response, "empty-rubrics")[0]


def test_the_list_shows_the_version_in_force_the_draft_and_the_last_change(world, admin, published):
    rubric, _ = published
    services.version_new_draft(rubric=rubric, actor=world.admin)
    make_rubric(actor=world.admin, name="Balance checks")

    response = admin.get(url("rubric-list"))

    rows = by_testid(response, "rubric-row")
    assert [row.split()[0] for row in rows] == ["Balance", "Card"]
    balance, card = rows
    assert "Not published" in balance
    assert "Draft 1 in progress" in balance
    assert "Version 1" in card
    assert "Draft 2 in progress" in card
    assert "New version by ada" in card


def test_the_list_takes_the_same_number_of_queries_for_more_rubrics(world, admin):
    make_rubric(actor=world.admin, name="One")
    few = queries_for(admin, url("rubric-list"))
    for n in range(5):
        make_rubric(actor=world.admin, name=f"More {n}", publish=True)
    many = queries_for(admin, url("rubric-list"))

    assert many == few


# Creating


def test_creating_a_rubric_opens_the_editor_of_its_first_draft(world, admin):
    response = admin.post(
        url("rubric-create"), {"name": "Card services", "description": "Lost cards"}
    )

    rubric = Rubric.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("rubric-version-edit", rubric.pk, 1)
    assert rubric.description == "Lost cards"
    assert rubric.versions.get().status == "DRAFT"
    assert rubric.audit_entries.get().actor == world.admin


def test_creating_a_rubric_with_a_taken_name_shows_the_error_by_the_name(world, admin, published):
    response = admin.post(url("rubric-create"), {"name": "card SERVICES", "description": "x"})

    assert response.status_code == 200
    assert "already exists" in field_block(response, "id_name")
    assert field(response, "id_name")["value"] == "card SERVICES"
    assert field(response, "id_description")["text"] == "x"
    assert Rubric.objects.count() == 1


# The editor


def test_the_editor_shows_the_draft_with_every_field_named_by_its_path(world, admin):
    rubric, _ = make_rubric(actor=world.admin, name="Card services")

    response = admin.get(url("rubric-version-edit", rubric.pk, 1))

    assert response.status_code == 200
    assert field(response, "f-sections-0-weight")["value"] == "40"
    assert field(response, "f-sections-1-criteria-0-key")["value"] == "offer_replacement_card"
    assert (
        field(response, "f-sections-0-criteria-0-phrases-0-text")["value"]
        == "thank you for calling"
    )
    assert field(response, "f-sections-0-criteria-0-phrases-0-tolerance")["value"] == "80"
    assert field(response, "f-sections-0-criteria-0-window_seconds")["value"] == "30"
    assert "checked" in field(response, "f-sections-1-criteria-1-na_allowed")
    assert not by_testid(response, "error-summary")  # publishable as it is


def test_saving_the_editor_replaces_the_draft_in_the_submitted_order(world, admin):
    rubric, version = make_rubric(actor=world.admin, name="Card services")
    data = selectors.version_data(version=version)
    data["sections"].reverse()
    data["sections"][0]["criteria"].reverse()
    data["sections"][1]["criteria"][0]["required_phrases"].append(
        {"text": "my name is {agent_name}", "tolerance": 90}
    )
    data["notes"] = "Resolution first"

    response = admin.post(url("rubric-version-edit", rubric.pk, 1), editor_post(data))

    assert response.status_code == 302
    assert response["Location"] == url("rubric-version-edit", rubric.pk, 1)
    version.refresh_from_db()
    saved = selectors.version_data(version=version)
    assert [s["key"] for s in saved["sections"]] == ["resolution", "opening"]
    assert [c["key"] for c in saved["sections"][0]["criteria"]] == [
        "mention_app",
        "confirm_address",
        "offer_replacement_card",
    ]
    assert saved["sections"][1]["criteria"][0]["required_phrases"] == [
        {"text": "thank you for calling", "tolerance": 80},
        {"text": "my name is {agent_name}", "tolerance": 90},
    ]
    assert saved["sections"][0]["criteria"][1]["na_allowed"] is True
    assert saved["notes"] == "Resolution first"
    assert RubricAuditEntry.objects.filter(action="EDIT", actor=world.admin).count() == 2


def test_a_blank_key_is_made_from_the_name_and_an_empty_phrase_row_is_dropped(world, admin):
    rubric = services.rubric_create(name="Card services", actor=world.admin)
    post = editor_post(content(section("", criterion("", weight=None))))
    post |= {
        "sections-0-name": "Opening Lines",
        "sections-0-criteria-0-name": "Greets the caller!",
        "sections-0-criteria-0-phrases-0-text": "  ",
        "sections-0-criteria-0-phrases-0-tolerance": "85",
    }

    admin.post(url("rubric-version-edit", rubric.pk, 1), post)

    saved = selectors.version_data(version=rubric.versions.get())
    assert saved["sections"][0]["key"] == "opening_lines"
    assert saved["sections"][0]["criteria"][0]["key"] == "greets_the_caller"
    assert saved["sections"][0]["criteria"][0]["required_phrases"] == []


def test_saving_with_errors_shows_each_next_to_its_field_and_loses_nothing(world, admin):
    rubric, version = make_rubric(actor=world.admin, name="Card services")
    before = selectors.version_data(version=version)
    post = editor_post(before)
    post |= {
        "notes": "Trying things",
        "sections-0-weight": "forty",
        "sections-1-criteria-0-key": "Greeting",  # taken by the first section's first criterion
        "sections-1-criteria-1-window_seconds": "-5",
        "sections-0-criteria-0-phrases-0-tolerance": "101",
        "sections-1-criteria-2-expected_action": "Mentions the app",
    }

    response = admin.post(url("rubric-version-edit", rubric.pk, 1), post)

    assert response.status_code == 200
    assert "Weight must be a number." in field_block(response, "f-sections-0-weight")
    assert "already uses the key" in field_block(response, "f-sections-1-criteria-0-key")
    assert "at least 1 second" in field_block(response, "f-sections-1-criteria-1-window_seconds")
    assert "whole number from 0 to 100" in field_block(
        response, "f-sections-0-criteria-0-phrases-0-tolerance"
    )
    assert "is-invalid" in field(response, "f-sections-0-weight")["class"]
    assert "Weight must be a number." not in field_block(response, "f-sections-1-weight")
    # The summary lists all four, saying where, with links to the fields.
    (summary,) = by_testid(response, "error-summary")
    assert "Not saved: 4 problems" in summary
    assert "Section 1 “Opening”" in summary
    assert "Section 2 “Resolution”" in summary
    assert 'href="#f-sections-0-weight"' in response.content.decode()
    # Everything typed comes back as typed.
    assert field(response, "f-sections-0-weight")["value"] == "forty"
    assert field(response, "f-sections-1-criteria-0-key")["value"] == "Greeting"
    assert field(response, "f-sections-1-criteria-1-window_seconds")["value"] == "-5"
    assert field(response, "f-sections-0-criteria-0-phrases-0-tolerance")["value"] == "101"
    assert field(response, "f-notes")["text"] == "Trying things"
    assert field(response, "f-sections-1-criteria-2-expected_action")["text"] == (
        "Mentions the app"
    )
    # And nothing was saved.
    version.refresh_from_db()
    assert selectors.version_data(version=version) == before


def test_a_saved_draft_shows_what_stops_publication_next_to_the_weights(world, admin):
    rubric = services.rubric_create(name="Card services", actor=world.admin)
    data = content(
        *(
            section(key, criterion(f"{key}_step"), weight=weight)
            for key, weight in [("opening", 30), ("checks", 30), ("resolution", 20), ("end", 10)]
        )
    )

    saved = admin.post(url("rubric-version-edit", rubric.pk, 1), editor_post(data))
    response = admin.get(saved["Location"])

    assert saved.status_code == 302  # a draft may be saved incomplete
    assert by_testid(response, "weights-error") == [
        "Section weights total 90%; they must total 100%."
    ]
    total_box = field(response, "weights-total")["text"]
    assert "Section weights 90%" in total_box
    assert "Section weights total 90%; they must total 100%." in total_box
    assert "is-invalid" in field(response, "f-sections-0-weight")["class"]
    (summary,) = by_testid(response, "error-summary")
    assert "not ready to publish: 1 problem" in summary


def test_by_criterion_weighting_hides_section_weights_and_totals_criteria(world, admin):
    data = content(
        section("opening", criterion("greeting", weight=60)),
        section(
            "closing", criterion("goodbye", weight=30), criterion("note", kind="INFORMATIONAL")
        ),
        weighting="BY_CRITERION",
    )
    rubric, _ = make_rubric(actor=world.admin, data=data)

    response = admin.get(url("rubric-version-edit", rubric.pk, 1))

    assert "disabled" in field(response, "f-sections-0-weight")
    assert "disabled" in field(response, "f-sections-1-criteria-1-weight")  # informational
    assert "90%" in by_testid(response, "weights-total-value")[0]
    assert by_testid(response, "weights-error") == [
        "Criterion weights total 90%; they must total 100%."
    ]


def test_a_published_version_is_not_editable(world, admin, published):
    rubric, _ = published

    response = admin.get(url("rubric-version-edit", rubric.pk, 1))
    posted = admin.post(url("rubric-version-edit", rubric.pk, 1), editor_post(card_services()))

    assert response["Location"] == url("rubric-version", rubric.pk, 1)
    assert posted["Location"] == url("rubric-version", rubric.pk, 1)
    assert RubricAuditEntry.objects.filter(action="EDIT").count() == 1


def test_save_and_publish_saves_then_asks_for_confirmation(world, admin):
    rubric, version = make_rubric(actor=world.admin, name="Card services")
    data = selectors.version_data(version=version) | {"notes": "First"}

    response = admin.post(
        url("rubric-version-edit", rubric.pk, 1), {**editor_post(data), "then": "publish"}
    )

    assert response["Location"] == url("rubric-version-publish", rubric.pk, 1)
    assert RubricVersion.objects.get().notes == "First"
    assert RubricVersion.objects.get().status == "DRAFT"


# Publishing and the read-only version


def test_publishing_asks_first_then_shows_the_version_read_only(world, admin):
    rubric, _ = make_rubric(actor=world.admin, name="Card services")

    confirm = admin.get(url("rubric-version-publish", rubric.pk, 1))
    published = admin.post(url("rubric-version-publish", rubric.pk, 1))
    page = admin.get(published["Location"])

    assert "Publish version 1 of “Card services”?" in by_testid(confirm, "confirm")[0]
    assert published["Location"] == url("rubric-version", rubric.pk, 1)
    assert RubricVersion.objects.get().status == "PUBLISHED"
    assert by_testid(page, "version-status")[0].strip() == "Published"
    assert main_fields(page) == []
    structure = by_testid(page, "structure")[0]
    for text in ("Opening", "Resolution", "thank you for calling", "≥80%", "40%", "relative 70"):
        assert text in structure


def test_a_draft_that_cannot_be_published_goes_back_to_the_editor(world, admin):
    rubric = services.rubric_create(name="Card services", actor=world.admin)

    confirm = admin.get(url("rubric-version-publish", rubric.pk, 1))
    posted = admin.post(url("rubric-version-publish", rubric.pk, 1))
    editor = admin.get(posted["Location"], follow=True)

    assert confirm["Location"] == url("rubric-version-edit", rubric.pk, 1) + "?check"
    assert posted["Location"] == url("rubric-version-edit", rubric.pk, 1) + "?check"
    assert "Add at least one section." in by_testid(editor, "error-summary")[0]
    assert RubricVersion.objects.get().status == "DRAFT"


def test_publishing_a_new_version_shows_the_changes_and_retires_the_old_one(
    world, admin, published
):
    rubric, v1 = published
    draft = services.version_new_draft(rubric=rubric, actor=world.admin)
    data = selectors.version_data(version=draft)
    data["sections"][0]["weight"] = Decimal(50)
    data["sections"][1]["weight"] = Decimal(50)
    services.draft_update(version=draft, actor=world.admin, data=data)

    confirm = admin.get(url("rubric-version-publish", rubric.pk, 2))
    admin.post(url("rubric-version-publish", rubric.pk, 2))

    text = by_testid(confirm, "confirm")[0]
    assert "Version 1" in text
    assert "retired" in text
    assert "Weight" in " ".join(by_testid(confirm, "diff-item"))
    v1.refresh_from_db()
    assert v1.status == "RETIRED"
    assert main_fields(admin.get(url("rubric-version", rubric.pk, 1))) == []


def test_readers_see_a_draft_read_only(world, client_for):
    rubric, _ = make_rubric(actor=world.admin, name="Card services")

    page = client_for(world.supervisor).get(url("rubric-version", rubric.pk, 1))

    assert main_fields(page) == []
    assert "Draft" in by_testid(page, "version-status")[0]
    assert url("rubric-version-edit", rubric.pk, 1) not in page.content.decode()


# Retiring, new drafts, discarding


def test_retiring_the_published_version_after_confirming(world, admin, published):
    rubric, version = published

    confirm = admin.get(url("rubric-version-retire", rubric.pk, 1))
    response = admin.post(url("rubric-version-retire", rubric.pk, 1))

    assert "Retire version 1" in by_testid(confirm, "confirm")[0]
    assert response["Location"] == url("rubric-detail", rubric.pk)
    version.refresh_from_db()
    assert version.status == "RETIRED"


def test_a_new_draft_copies_the_published_version_and_opens_the_editor(world, admin, published):
    rubric, _ = published

    response = admin.post(url("rubric-new-draft", rubric.pk))
    again = admin.post(url("rubric-new-draft", rubric.pk), follow=True)

    assert response["Location"] == url("rubric-version-edit", rubric.pk, 2)
    draft = RubricVersion.objects.get(number=2)
    assert draft.based_on.number == 1
    assert draft.sections.count() == 2
    assert "already has a draft" in again.content.decode()
    assert RubricVersion.objects.count() == 2


def test_discarding_a_draft_after_confirming(world, admin, published):
    rubric, _ = published
    services.version_new_draft(rubric=rubric, actor=world.admin)

    confirm = admin.get(url("rubric-version-discard", rubric.pk, 2))
    response = admin.post(url("rubric-version-discard", rubric.pk, 2), follow=True)

    assert "Discard draft 2" in by_testid(confirm, "confirm")[0]
    assert "Draft 2 discarded." in response.content.decode()
    assert list(RubricVersion.objects.values_list("number", flat=True)) == [1]


def test_discarding_a_published_version_is_refused(world, admin, published):
    rubric, _ = published

    response = admin.post(url("rubric-version-discard", rubric.pk, 1), follow=True)

    assert "only an unused draft can be discarded" in response.content.decode()
    assert RubricVersion.objects.get().status == "PUBLISHED"


# Diff and history


def test_the_diff_shows_added_removed_and_changed_items_with_before_and_after(
    world, client_for, published
):
    rubric, _ = published
    draft = services.version_new_draft(rubric=rubric, actor=world.admin)
    data = selectors.version_data(version=draft)
    data["sections"][0]["criteria"][0]["required_phrases"][0]["tolerance"] = 90
    data["sections"][1]["criteria"].pop()  # mention_app
    data["sections"][1]["criteria"].append({"key": "summarise", "name": "Summarises the call"})
    services.draft_update(version=draft, actor=world.admin, data=data)

    response = client_for(world.coach).get(url("rubric-diff", rubric.pk))

    assert field(response, "old")  # the version pickers
    items = by_testid(response, "diff-item")
    assert len(items) == 3
    changed, added, removed = items
    assert "Changed" in changed
    assert "Greeting" in changed
    assert "“thank you for calling” (≥80%)" in changed
    assert "“thank you for calling” (≥90%)" in changed
    assert "Added" in added
    assert "Summarises the call" in added
    assert "Removed" in removed
    assert "Mention app" in removed


def test_the_diff_between_two_chosen_versions(world, admin, published):
    rubric, _ = published
    services.version_new_draft(rubric=rubric, actor=world.admin)  # a copy of version 1

    copy = admin.get(url("rubric-diff", rubric.pk), {"old": 1, "new": 2})
    same = admin.get(url("rubric-diff", rubric.pk), {"old": 2, "new": 2})

    assert by_testid(copy, "no-changes")
    assert by_testid(same, "no-changes")
    assert 'value="2" selected' in same.content.decode()


def test_the_history_says_who_did_what_and_when(world, admin, published):
    rubric, _ = published
    draft = services.version_new_draft(rubric=rubric, actor=world.admin)
    data = selectors.version_data(version=draft) | {"notes": "Tighter greeting"}
    services.draft_update(version=draft, actor=world.admin, data=data)
    services.draft_discard(version=draft, actor=world.admin)

    response = admin.get(url("rubric-audit", rubric.pk))

    entries = by_testid(response, "audit-entry")
    assert [e.split()[0] for e in entries] == [
        "Draft",  # "Draft deleted"
        "Edited",
        "New",
        "Published",
        "Edited",
        "Created",
    ]
    assert all("ada" in e for e in entries)
    assert "Discarded draft 2 (2 sections, 5 criteria)." in entries[0]
    assert "Edited draft 2: 1 change." in entries[1]
    assert "Tighter greeting" in entries[1]
    assert "Published version 1." in entries[3]
    assert "Created “Card services” with draft 1." in entries[5]


# Preview


def preview(client, rubric, conversation=None):
    query = {"conversation": conversation.pk} if conversation is not None else {}
    return client.get(url("rubric-version-preview", rubric.pk, 1), query)


def test_preview_runs_the_deterministic_checks_over_one_conversation(world, admin, published):
    rubric, _ = published

    response = preview(admin, rubric, world.north_call)

    results = {
        m[0]: m[1]
        for m in re.findall(r'data-key="(\w+)" data-outcome="(\w+)"', response.content.decode())
    }
    assert results == {
        "greeting": "MET",  # "thank you for calling" within 30 s of the agent's first turn
        "verify_identity": "NA",  # nothing deterministic to check
        "offer_replacement_card": "NA",
        "confirm_address": "NA",
        "mention_app": "NA",
    }
    assert by_testid(response, "evidence-match") == ["thank you for calling"]
    assert "harper valley" in by_testid(response, "evidence")[0]
    assert "Alice" in by_testid(response, "evidence")[0]
    assert "1 met" in by_testid(response, "count-met")[0]


def test_preview_marks_a_missing_phrase_not_met_with_the_nearest_line(world, admin):
    data = content(
        section(
            "closing",
            criterion("anything_else", required_phrases=[{"text": "anything else today"}]),
            weight=100,
        )
    )
    rubric, _ = make_rubric(actor=world.admin, data=data, publish=True)

    response = preview(admin, rubric, world.north_call)

    assert 'data-key="anything_else" data-outcome="NOT_MET"' in response.content.decode()
    assert len(by_testid(response, "evidence")) == 1


def test_preview_judges_a_criterion_without_phrases_by_meaning_and_shows_the_line(world, admin):
    data = content(
        section(
            "opening",
            criterion(
                "thanks_caller",
                expected_action='Say "thank you for calling the bank".',
            ),
            criterion("confirms", expected_action='Say "your new card has been ordered".'),
            weight=100,
        )
    )
    rubric, _ = make_rubric(actor=world.admin, data=data, publish=True)

    response = preview(admin, rubric, world.north_call)

    page = response.content.decode()
    assert 'data-key="thanks_caller" data-outcome="MET"' in page
    # The only agent line thanks for calling; nothing says a card was ordered.
    assert 'data-key="confirms" data-outcome="NOT_MET"' in page
    assert by_testid(response, "evidence-semantic")[0] == "thank you for calling harper valley"
    assert "An agent line is close in meaning to the expected action." in page


def test_preview_is_na_for_criteria_meant_for_another_agent_type(world, admin):
    data = content(
        section(
            "opening",
            criterion(
                "bot_greeting",
                applies_to="AI_AGENT",
                required_phrases=[{"text": "thank you for calling"}],
            ),
            weight=100,
        )
    )
    rubric, _ = make_rubric(actor=world.admin, data=data, publish=True)

    response = preview(admin, rubric, world.north_call)

    assert 'data-key="bot_greeting" data-outcome="NA"' in response.content.decode()
    assert "Applies to AI agents only." in response.content.decode()


def test_preview_offers_only_the_conversations_the_user_may_see(world, client_for, published):
    rubric, _ = published
    coach = client_for(world.coach)  # leads north only

    page = preview(coach, rubric)
    south = preview(coach, rubric, world.south_call)

    options = re.findall(r'<option value="(\d+)"', page.content.decode())
    assert options == [str(world.north_call.pk)]
    assert south.status_code == 404


def test_preview_with_no_conversation_chosen_shows_the_picker_only(world, admin, published):
    rubric, _ = published
    builders.make_conversation(customer_name="Later caller")

    response = preview(admin, rubric)

    assert response.status_code == 200
    assert not by_testid(response, "check-result")
    assert len(re.findall(r'<option value="\d+"', response.content.decode())) == 3


# Export, import, Twilio


def test_readers_export_a_version_as_a_twilio_script_or_a_json_document(
    world, client_for, published
):
    rubric, _ = published
    client = client_for(world.qa_analyst)

    page = client.get(url("rubric-version", rubric.pk, 1))
    script = client.get(url("rubric-version-export", rubric.pk, 1, "twilio"))
    document = client.get(url("rubric-version-export", rubric.pk, 1, "json"))
    unknown = client.get(url("rubric-version-export", rubric.pk, 1, "xml"))

    assert url("rubric-version-export", rubric.pk, 1, "twilio") in page.content.decode()
    assert script["Content-Type"] == "text/plain; charset=utf-8"
    assert script["Content-Disposition"] == 'attachment; filename="card-services-v1.txt"'
    assert "Category: Opening" in script.content.decode()
    assert "Score weight: 40%" in script.content.decode()
    assert document["Content-Disposition"] == 'attachment; filename="card-services-v1.json"'
    body = document.json()
    assert body["format"] == "ccportal.rubric"
    assert [s["key"] for s in body["sections"]] == ["opening", "resolution"]
    assert body["source"]["version_number"] == 1
    assert unknown.status_code == 404


@pytest.mark.parametrize("persona", REFUSED)
def test_exports_and_imports_are_refused_to_agents_and_outsiders(
    world, client_for, published, persona
):
    rubric, _ = published
    client = client_for(getattr(world, persona))

    for address in (
        url("rubric-version-export", rubric.pk, 1, "json"),
        url("rubric-import"),
        url("rubric-import-version", rubric.pk),
    ):
        assert client.get(address).status_code == 403


def test_readers_cannot_import(world, client_for):
    assert client_for(world.coach).get(url("rubric-import")).status_code == 403


SCRIPT = """\
Category: Greeting
Goal: Make the customer feel welcome.
Action: Greet the customer with business name and agent name.
Required Phrase: "Thank you for calling Harper Valley"
Score weight: 40%

Category: Resolution
- offer_replacement: Offer to replace the card.
Score weight: 60%
"""


def test_importing_a_twilio_script_creates_a_rubric_and_opens_its_draft(world, admin):
    response = admin.post(
        url("rubric-import"), {"format": "twilio", "text": SCRIPT, "name": "Card services"}
    )

    rubric = Rubric.objects.get()
    assert response["Location"] == url("rubric-version-edit", rubric.pk, 1)
    data = selectors.version_data(version=rubric.versions.get())
    assert [s["key"] for s in data["sections"]] == ["greeting", "resolution"]
    assert data["sections"][0]["criteria"][0]["required_phrases"][0]["text"] == (
        "Thank you for calling Harper Valley"
    )
    assert list(rubric.audit_entries.values_list("action", flat=True)) == ["IMPORT", "CREATE"]


def test_an_uploaded_script_file_is_imported_too(world, admin):
    upload = SimpleUploadedFile("script.txt", SCRIPT.encode(), content_type="text/plain")

    admin.post(url("rubric-import"), {"format": "twilio", "file": upload, "name": "Uploaded"})

    assert Rubric.objects.get().name == "Uploaded"


def test_a_script_with_problems_lists_them_by_line_and_imports_nothing(world, admin):
    unknown_label = SCRIPT.replace("Goal:", "Tone:")
    short_weights = SCRIPT.replace("Score weight: 60%", "Score weight: 50%")

    response = admin.post(
        url("rubric-import"), {"format": "twilio", "text": unknown_label, "name": "Card services"}
    )
    weights = admin.post(
        url("rubric-import"), {"format": "twilio", "text": short_weights, "name": "Card services"}
    )

    assert response.status_code == 200
    (errors,) = by_testid(response, "import-errors")
    assert "nothing was imported" in errors
    assert "line 2: unknown label 'Tone'" in errors
    assert field(response, "id_text")["text"].startswith("Category: Greeting")
    assert "Section weights total 90%" in by_testid(weights, "import-errors")[0]
    assert not Rubric.objects.exists()


def test_a_script_needs_a_name_for_the_new_rubric(world, admin):
    response = admin.post(url("rubric-import"), {"format": "twilio", "text": SCRIPT})

    assert "Name the new rubric." in field_block(response, "id_name")
    assert not Rubric.objects.exists()


def test_a_json_export_imports_back_as_the_next_version(world, admin, published):
    rubric, v1 = published
    exported = admin.get(url("rubric-version-export", rubric.pk, 1, "json")).content.decode()

    response = admin.post(
        url("rubric-import-version", rubric.pk), {"format": "json", "text": exported}
    )

    assert response["Location"] == url("rubric-version-edit", rubric.pk, 2)
    draft = RubricVersion.objects.get(number=2)
    assert selectors.version_diff(old=v1, new=draft) == []


def test_text_that_is_not_json_is_shown_by_the_text(world, admin):
    response = admin.post(url("rubric-import"), {"format": "json", "text": "{nope"})

    assert "This is not JSON" in field_block(response, "id_text")
    assert not Rubric.objects.exists()


def test_importing_into_a_rubric_with_a_draft_is_refused(world, admin, published):
    rubric, _ = published
    services.version_new_draft(rubric=rubric, actor=world.admin)

    response = admin.get(url("rubric-import-version", rubric.pk), follow=True)

    assert "has a draft already" in response.content.decode()


def test_sending_to_twilio_without_settings_says_what_is_missing(world, admin, published, settings):
    rubric, _ = published
    settings.TWILIO_INTELLIGENCE_RULE_ID = ""

    page = admin.get(url("rubric-version", rubric.pk, 1))
    response = admin.post(url("rubric-version-push", rubric.pk, 1), follow=True)

    assert url("rubric-version-push", rubric.pk, 1) not in page.content.decode()
    assert "Publishing to Twilio is not configured" in response.content.decode()
