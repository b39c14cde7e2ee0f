"""Reading rubrics: who sees them, the structures scoring reads, and diffs between versions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.errors import NotFound
from apps.rubrics import selectors, services
from apps.rubrics.choices import AuditAction
from apps.rubrics.structure import PhraseSpec
from tests.fixtures.rubrics import card_services, criterion, make_rubric, section

pytestmark = pytest.mark.django_db

STAFF = ["admin", "qa_analyst", "coach", "supervisor"]


@pytest.mark.parametrize("persona", STAFF)
def test_staff_roles_read_every_rubric(world, persona):
    rubric, _ = make_rubric(actor=world.admin, name="Card services")
    user = getattr(world, persona)
    assert list(selectors.rubric_list(user=user)) == [rubric]
    assert selectors.rubric_get(user=user, pk=rubric.pk) == rubric
    assert selectors.version_get(user=user, pk=rubric.versions.get().pk).rubric == rubric


@pytest.mark.parametrize("persona", ["agent_user", "outsider"])
def test_agents_and_outsiders_see_no_rubrics(world, persona):
    rubric, version = make_rubric(actor=world.admin)
    user = getattr(world, persona)
    assert list(selectors.rubric_list(user=user)) == []
    with pytest.raises(NotFound):
        selectors.rubric_get(user=user, pk=rubric.pk)
    with pytest.raises(NotFound):
        selectors.version_get(user=user, pk=version.pk)
    assert list(selectors.version_list(user=user, rubric=rubric)) == []
    assert list(selectors.rubric_audit_list(user=user, rubric=rubric)) == []


def test_rubric_list_shows_published_and_draft_numbers_in_one_query(world):
    published, _ = make_rubric(actor=world.admin, name="B published", publish=True)
    services.version_new_draft(rubric=published, actor=world.admin)
    make_rubric(actor=world.admin, name="A draft only")
    with CaptureQueriesContext(connection) as queries:
        rows = [
            (r.name, r.published_number, r.draft_number, r.created_by.username)
            for r in selectors.rubric_list(user=world.qa_analyst)
        ]
    assert rows == [("A draft only", None, 1, "ada"), ("B published", 1, 2, "ada")]
    assert len(queries) == 1


def test_version_list_is_newest_first(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    assert list(selectors.version_list(user=world.coach, rubric=rubric)) == [v2, v1]


def test_published_version_is_the_one_in_force(world):
    rubric, v1 = make_rubric(actor=world.admin)
    assert selectors.published_version(rubric=rubric) is None
    services.version_publish(version=v1, actor=world.admin)
    assert selectors.published_version(rubric=rubric) == v1
    assert selectors.draft_version(rubric=rubric) is None


def test_version_structure_holds_everything_scoring_needs_in_two_queries(world):
    rubric, version = make_rubric(actor=world.admin, publish=True)
    with CaptureQueriesContext(connection) as queries:
        structure = selectors.version_structure(version=version)
    assert len(queries) == 2
    assert (structure.rubric_id, structure.version_id, structure.version_number) == (
        rubric.pk,
        version.pk,
        1,
    )
    assert [s.key for s in structure.sections] == ["opening", "resolution"]
    assert structure.sections[0].weight == Decimal("40.00")
    greeting = structure.criterion("greeting")
    assert greeting.section_key == "opening"
    assert greeting.required_phrases == (PhraseSpec(text="thank you for calling", tolerance=80),)
    assert (greeting.window_seconds, greeting.window_anchor) == (30, "AGENT_FIRST_TURN")
    assert [c.key for c in structure.criteria] == [
        "greeting",
        "verify_identity",
        "offer_replacement_card",
        "confirm_address",
        "mention_app",
    ]


def test_version_structure_query_count_does_not_grow_with_the_rubric(world):
    data = card_services()
    data["sections"] += [
        section(f"extra_{i}", *(criterion(f"extra_{i}_{j}") for j in range(5))) for i in range(10)
    ]
    _, version = make_rubric(actor=world.admin, data=data)
    with CaptureQueriesContext(connection) as queries:
        structure = selectors.version_structure(version=version)
    assert len(queries) == 2
    assert len(list(structure.criteria)) == 55


def test_version_data_round_trips_through_draft_update(world):
    rubric, version = make_rubric(actor=world.admin)
    data = selectors.version_data(version=version)
    assert data["name"] == rubric.name
    assert data["sections"][1]["criteria"][0]["weight"] == Decimal("70.00")
    services.draft_update(version=version, actor=world.admin, data=data)
    assert selectors.version_data(version=version) == data


def test_version_diff_lists_added_removed_and_changed_items_by_key(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    data = selectors.version_data(version=v2)
    data["weighting"] = "BY_SECTION"
    opening, resolution = data["sections"]
    opening["weight"] = "30"
    resolution["weight"] = "70"
    resolution["criteria"].pop(1)  # confirm_address
    resolution["criteria"][0]["required_phrases"] = [{"text": "new card", "tolerance": 90}]
    data["sections"].append(section("closing", criterion("recap"), weight=None))
    services.draft_update(version=v2, actor=world.admin, data=data)

    diff = selectors.version_diff(old=v1, new=v2)
    assert diff == [
        {
            "action": "changed",
            "target": "section",
            "key": "opening",
            "name": "Opening",
            "fields": {"weight": {"before": "40", "after": "30"}},
        },
        {
            "action": "changed",
            "target": "section",
            "key": "resolution",
            "name": "Resolution",
            "fields": {"weight": {"before": "60", "after": "70"}},
        },
        {
            "action": "changed",
            "target": "criterion",
            "key": "offer_replacement_card",
            "name": "Offer replacement card",
            "section": "resolution",
            "fields": {
                "required_phrases": {
                    "before": [],
                    "after": [{"text": "new card", "tolerance": 90}],
                }
            },
        },
        {
            "action": "added",
            "target": "section",
            "key": "closing",
            "name": "Closing",
            "after": {"key": "closing", "name": "Closing", "description": "", "weight": None},
        },
        {
            "action": "added",
            "target": "criterion",
            "key": "recap",
            "name": "Recap",
            "section": "closing",
            "after": diff[4]["after"],
        },
        {
            "action": "removed",
            "target": "criterion",
            "key": "confirm_address",
            "name": "Confirm address",
            "section": "resolution",
            "before": diff[5]["before"],
        },
    ]
    assert diff[5]["before"]["weight"] == "30"
    assert diff[4]["after"]["kind"] == "SCORED"


def test_version_diff_reports_real_moves_only(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    data = selectors.version_data(version=v2)
    opening, resolution = data["sections"]
    opening["criteria"].insert(0, criterion("hold_music"))  # shifts the others: not a move
    moved = resolution["criteria"].pop(2)  # mention_app moves to the opening
    opening["criteria"].append(moved)
    resolution["criteria"].reverse()  # one of the two really moved
    services.draft_update(version=v2, actor=world.admin, data=data)

    changed = {
        c["key"]: c["fields"]
        for c in selectors.version_diff(old=v1, new=v2)
        if c["action"] == "changed"
    }
    assert changed == {
        "mention_app": {
            "section": {"before": "resolution", "after": "opening"},
            "position": {"before": 2, "after": 3},
        },
        "offer_replacement_card": {"position": {"before": 0, "after": 1}},
    }


def test_rubric_audit_list_is_newest_first_with_actors(world):
    rubric, _version = make_rubric(actor=world.admin, publish=True)
    entries = list(selectors.rubric_audit_list(user=world.supervisor, rubric=rubric))
    assert [e.action for e in entries] == [
        AuditAction.PUBLISH,
        AuditAction.EDIT,
        AuditAction.CREATE,
    ]
    assert {e.actor for e in entries} == {world.admin}
