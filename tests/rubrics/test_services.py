"""Rubric versioning: drafts are edited, publication is guarded, published versions are frozen,
and every change leaves an audit entry naming the actor and what changed."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.common.errors import PermissionDenied, ValidationFailed
from apps.rubrics import services
from apps.rubrics.choices import AuditAction, VersionStatus
from apps.rubrics.errors import DraftExists, InvalidTransition, VersionNotEditable
from apps.rubrics.models import Criterion, Rubric, RubricAuditEntry, RubricVersion, Section
from apps.rubrics.selectors import version_data
from apps.rubrics.structure import jsonable
from tests.fixtures import builders
from tests.fixtures.rubrics import card_services, criterion, make_rubric

pytestmark = pytest.mark.django_db


def audit(rubric: Rubric) -> list[RubricAuditEntry]:
    return list(RubricAuditEntry.objects.filter(rubric=rubric).order_by("at", "id"))


def keys(version: RubricVersion) -> list[tuple[str, list[str]]]:
    return [
        (s.key, [c.key for c in s.criteria.order_by("position")])
        for s in version.sections.order_by("position")
    ]


# Creating


def test_rubric_create_makes_an_empty_draft_version_1(world):
    rubric = services.rubric_create(
        name=" Card services ", description="Lost and stolen cards", actor=world.admin
    )
    version = rubric.versions.get()
    assert (rubric.name, rubric.slug, rubric.created_by) == (
        "Card services",
        "card-services",
        world.admin,
    )
    assert (version.number, version.status, version.created_by) == (1, "DRAFT", world.admin)
    assert (version.weighting, version.critical_mode) == ("BY_SECTION", "FAIL_CONVERSATION")
    assert not version.sections.exists()
    [entry] = audit(rubric)
    assert (entry.action, entry.actor, entry.version, entry.version_number) == (
        AuditAction.CREATE,
        world.admin,
        version,
        1,
    )
    assert entry.changes == {
        "name": "Card services",
        "description": "Lost and stolen cards",
        "number": 1,
    }


def test_rubric_create_refuses_a_name_already_taken_ignoring_case(world):
    services.rubric_create(name="Card services", actor=world.admin)
    with pytest.raises(ValidationFailed) as caught:
        services.rubric_create(name="CARD SERVICES", actor=world.admin)
    assert caught.value.errors == {"name": ["A rubric named “CARD SERVICES” already exists."]}


def test_rubric_create_refuses_an_empty_name(world):
    with pytest.raises(ValidationFailed) as caught:
        services.rubric_create(name="  ", actor=world.admin)
    assert caught.value.errors == {"name": ["Rubric name is required."]}


def test_rubric_slugs_stay_unique_when_names_slugify_alike(world):
    first = services.rubric_create(name="Card: services", actor=world.admin)
    second = services.rubric_create(name="Card services", actor=world.admin)
    assert (first.slug, second.slug) == ("card-services", "card-services-2")


@pytest.mark.parametrize("persona", ["qa_analyst", "coach", "supervisor", "agent_user", "outsider"])
def test_only_admins_may_change_rubrics(world, persona):
    with pytest.raises(PermissionDenied):
        services.rubric_create(name="Card services", actor=getattr(world, persona))
    _, version = make_rubric(actor=world.admin)
    with pytest.raises(PermissionDenied):
        services.draft_update(version=version, actor=getattr(world, persona), data=card_services())
    with pytest.raises(PermissionDenied):
        services.version_publish(version=version, actor=getattr(world, persona))


# Editing drafts


def test_draft_update_replaces_sections_and_criteria_in_the_given_order(world):
    _rubric, version = make_rubric(actor=world.admin)
    data = card_services()
    data["sections"].reverse()
    data["sections"][0]["criteria"].pop()  # drop mention_app
    data["sections"][1]["criteria"].insert(0, criterion("Hold Music"))
    services.draft_update(version=version, actor=world.admin, data=data)
    assert keys(version) == [
        ("resolution", ["offer_replacement_card", "confirm_address"]),
        ("opening", ["hold_music", "greeting", "verify_identity"]),
    ]
    assert Criterion.objects.filter(version=version).count() == 5
    greeting = Criterion.objects.get(version=version, key="greeting")
    assert greeting.required_phrases == [{"text": "thank you for calling", "tolerance": 80}]
    assert (greeting.window_seconds, greeting.window_anchor) == (30, "AGENT_FIRST_TURN")
    assert greeting.section.key == "opening"


def test_draft_update_records_what_changed_with_the_actor(world):
    rubric, version = make_rubric(actor=world.admin)
    data = card_services()
    data["notes"] = "Shorter greeting window"
    data["sections"][0]["criteria"][0]["window_seconds"] = 20
    data["sections"][1]["criteria"].pop()
    services.draft_update(version=version, actor=world.admin, data=data)
    entry = audit(rubric)[-1]
    assert (entry.action, entry.actor, entry.version) == (AuditAction.EDIT, world.admin, version)
    assert entry.changes == {
        "diff": [
            {
                "action": "changed",
                "target": "version",
                "fields": {"notes": {"before": "", "after": "Shorter greeting window"}},
            },
            {
                "action": "changed",
                "target": "criterion",
                "key": "greeting",
                "name": "Greeting",
                "section": "opening",
                "fields": {"window_seconds": {"before": 30, "after": 20}},
            },
            {
                "action": "removed",
                "target": "criterion",
                "key": "mention_app",
                "name": "Mention app",
                "section": "resolution",
                "before": entry.changes["diff"][2]["before"],
            },
        ]
    }
    assert entry.changes["diff"][2]["before"]["kind"] == "INFORMATIONAL"


def test_draft_update_with_nothing_changed_writes_nothing(world):
    rubric, version = make_rubric(actor=world.admin)
    entries = len(audit(rubric))
    services.draft_update(version=version, actor=world.admin, data=version_data(version=version))
    services.draft_update(version=version, actor=world.admin, data=card_services())
    assert len(audit(rubric)) == entries


def test_draft_update_refuses_invalid_content_and_keeps_the_draft(world):
    _rubric, version = make_rubric(actor=world.admin)
    before = version_data(version=version)
    data = card_services()
    data["sections"][1]["criteria"][0]["key"] = "greeting"
    data["sections"][0]["criteria"][0]["required_phrases"] = [{"text": "", "tolerance": 200}]
    with pytest.raises(ValidationFailed) as caught:
        services.draft_update(version=version, actor=world.admin, data=data)
    assert set(caught.value.errors) == {
        "sections.1.criteria.0.key",
        "sections.0.criteria.0.required_phrases.0.text",
        "sections.0.criteria.0.required_phrases.0.tolerance",
    }
    assert caught.value.extra == {"errors": caught.value.errors}
    assert version_data(version=version) == before


def test_a_draft_may_be_saved_with_weights_not_yet_totalling_100(world):
    data = card_services()
    data["sections"][1]["weight"] = 50
    _, version = make_rubric(actor=world.admin, data=data)
    assert version.sections.get(key="resolution").weight == Decimal("50.00")


def test_draft_update_can_rename_the_rubric(world):
    rubric, version = make_rubric(actor=world.admin, name="Cards")
    services.rubric_create(name="Loans", actor=world.admin)
    services.draft_update(
        version=version, actor=world.admin, data=card_services() | {"name": "Card services"}
    )
    rubric.refresh_from_db()
    assert (rubric.name, rubric.slug) == ("Card services", "cards")
    assert audit(rubric)[-1].changes["diff"][0] == {
        "action": "changed",
        "target": "rubric",
        "fields": {"name": {"before": "Cards", "after": "Card services"}},
    }
    with pytest.raises(ValidationFailed) as caught:
        services.draft_update(
            version=version, actor=world.admin, data=card_services() | {"name": "loans"}
        )
    assert caught.value.errors == {"name": ["A rubric named “loans” already exists."]}


def test_the_importer_records_an_import_with_its_source(world):
    empty = {"weighting": "BY_SECTION", "critical_mode": "FAIL_CONVERSATION"}
    rubric, version = make_rubric(actor=world.admin, data=empty)
    services.draft_update(
        version=version,
        actor=world.admin,
        data=card_services(),
        audit_action=AuditAction.IMPORT,
        audit_extra={"source": "twilio-script.json"},
    )
    entry = audit(rubric)[-1]
    assert entry.action == AuditAction.IMPORT
    assert entry.changes["source"] == "twilio-script.json"
    assert [c["action"] for c in entry.changes["diff"]] == ["added"] * 7


def test_editing_a_published_version_is_refused(world):
    _rubric, version = make_rubric(actor=world.admin, publish=True)
    data = card_services()
    data["sections"][0]["weight"] = 50
    data["sections"][1]["weight"] = 50
    with pytest.raises(VersionNotEditable, match=r"Version 1 of .* is published"):
        services.draft_update(version=version, actor=world.admin, data=data)
    assert version.sections.get(key="opening").weight == Decimal("40.00")


def test_editing_a_retired_version_is_refused(world):
    _rubric, version = make_rubric(actor=world.admin, publish=True)
    services.version_retire(version=version, actor=world.admin)
    with pytest.raises(VersionNotEditable):
        services.draft_update(version=version, actor=world.admin, data=card_services())


# Publishing


def test_publishing_a_draft_freezes_it_and_records_who(world):
    rubric, version = make_rubric(actor=world.admin)
    published = services.version_publish(version=version, actor=world.admin)
    assert published.status == VersionStatus.PUBLISHED
    assert published.published_by == world.admin
    assert published.published_at is not None
    assert published.is_used and not published.is_editable
    entry = audit(rubric)[-1]
    assert (entry.action, entry.actor, entry.changes) == (
        AuditAction.PUBLISH,
        world.admin,
        {"number": 1, "retired": None},
    )


def test_publishing_runs_full_validation_with_field_keyed_messages(world):
    data = card_services()
    data["sections"][1]["weight"] = 50
    rubric, version = make_rubric(actor=world.admin, data=data)
    with pytest.raises(ValidationFailed) as caught:
        services.version_publish(version=version, actor=world.admin)
    assert caught.value.errors == {"weights": ["Section weights total 90%; they must total 100%."]}
    assert caught.value.message == "This version cannot be published yet."
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT
    assert audit(rubric)[-1].action == AuditAction.EDIT


def test_an_empty_draft_cannot_be_published(world):
    rubric = services.rubric_create(name="Empty", actor=world.admin)
    with pytest.raises(ValidationFailed) as caught:
        services.version_publish(version=rubric.versions.get(), actor=world.admin)
    assert caught.value.errors == {"sections": ["Add at least one section."]}


def test_publishing_twice_fails_cleanly(world):
    rubric, version = make_rubric(actor=world.admin)
    services.version_publish(version=version, actor=world.admin)
    with pytest.raises(InvalidTransition, match="only a draft can be published"):
        services.version_publish(version=version, actor=world.admin)
    assert [e.action for e in audit(rubric)].count(AuditAction.PUBLISH) == 1


def test_publishing_from_a_stale_copy_fails_cleanly(world):
    _rubric, version = make_rubric(actor=world.admin)
    stale = RubricVersion.objects.get(pk=version.pk)
    services.version_publish(version=version, actor=world.admin)
    assert stale.status == VersionStatus.DRAFT
    with pytest.raises(InvalidTransition):
        services.version_publish(version=stale, actor=world.admin)


def test_publishing_v2_retires_v1_in_the_same_transaction(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    services.version_publish(version=v2, actor=world.admin)
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == (VersionStatus.RETIRED, VersionStatus.PUBLISHED)
    assert (v1.retired_by, v1.retired_at) == (world.admin, v2.published_at)
    assert [(e.action, e.version_number, e.changes) for e in audit(rubric)[-2:]] == [
        (AuditAction.RETIRE, 1, {"number": 1, "replaced_by": 2}),
        (AuditAction.PUBLISH, 2, {"number": 2, "retired": 1}),
    ]


def test_a_failed_publication_leaves_the_published_version_in_force(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    data = card_services()
    data["sections"][0]["weight"] = 10
    services.draft_update(version=v2, actor=world.admin, data=data)
    with pytest.raises(ValidationFailed):
        services.version_publish(version=v2, actor=world.admin)
    v1.refresh_from_db()
    assert v1.status == VersionStatus.PUBLISHED


def test_the_database_allows_one_draft_and_one_published_version_per_rubric(world):
    rubric, _v1 = make_rubric(actor=world.admin, publish=True)
    services.version_new_draft(rubric=rubric, actor=world.admin)
    with pytest.raises(IntegrityError), transaction.atomic():
        RubricVersion.objects.create(rubric=rubric, number=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        RubricVersion.objects.create(
            rubric=rubric, number=3, status=VersionStatus.PUBLISHED, published_at=timezone.now()
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_publications_of_one_draft_publish_it_once():
    admin = builders.make_user(username="ada", role="admin")
    _rubric, version = make_rubric(actor=admin)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def publish() -> None:
        try:
            start.wait()
            services.version_publish(version=RubricVersion.objects.get(pk=version.pk), actor=admin)
            outcomes.append("published")
        except InvalidTransition:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["published", "refused"]
    assert RubricAuditEntry.objects.filter(action=AuditAction.PUBLISH).count() == 1


# Retiring


def test_retiring_leaves_the_rubric_without_a_version_in_force(world):
    rubric, version = make_rubric(actor=world.admin, publish=True)
    retired = services.version_retire(version=version, actor=world.admin)
    assert (retired.status, retired.retired_by) == (VersionStatus.RETIRED, world.admin)
    assert not rubric.versions.filter(status=VersionStatus.PUBLISHED).exists()
    assert audit(rubric)[-1].action == AuditAction.RETIRE


def test_only_the_published_version_can_be_retired(world):
    _rubric, version = make_rubric(actor=world.admin)
    with pytest.raises(InvalidTransition, match="only the published version can be retired"):
        services.version_retire(version=version, actor=world.admin)


# New drafts


def test_a_new_draft_copies_the_published_version(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    assert (v2.number, v2.status, v2.based_on, v2.created_by) == (
        2,
        VersionStatus.DRAFT,
        v1,
        world.admin,
    )
    copied = version_data(version=v2)
    assert copied == version_data(version=v1)
    assert not set(v2.sections.values_list("pk", flat=True)) & set(
        v1.sections.values_list("pk", flat=True)
    )
    entry = audit(rubric)[-1]
    assert (entry.action, entry.changes) == (
        AuditAction.NEW_VERSION,
        {"number": 2, "based_on": 1},
    )


def test_editing_the_new_draft_leaves_the_published_version_alone(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    before = jsonable(version_data(version=v1))
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    data = version_data(version=v2)
    data["sections"][0]["criteria"][0]["name"] = "Greets warmly"
    services.draft_update(version=v2, actor=world.admin, data=data)
    assert jsonable(version_data(version=v1)) == before


def test_there_is_only_ever_one_draft(world):
    rubric, _v1 = make_rubric(actor=world.admin, publish=True)
    services.version_new_draft(rubric=rubric, actor=world.admin)
    with pytest.raises(DraftExists, match=r"already has a draft \(version 2\)"):
        services.version_new_draft(rubric=rubric, actor=world.admin)
    assert rubric.versions.count() == 2


def test_a_new_draft_after_retirement_copies_the_latest_retired_version(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    services.version_retire(version=v1, actor=world.admin)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    assert v2.based_on == v1
    assert keys(v2) == keys(v1)


# Discarding drafts


def test_discarding_a_draft_deletes_it_and_keeps_its_number_and_content_in_the_audit(world):
    rubric, v1 = make_rubric(actor=world.admin, publish=True)
    v2 = services.version_new_draft(rubric=rubric, actor=world.admin)
    services.draft_discard(version=v2, actor=world.admin)
    assert list(rubric.versions.all()) == [v1]
    assert not Section.objects.filter(version_id=v2.pk).exists()
    entry = audit(rubric)[-1]
    assert (entry.action, entry.actor, entry.version, entry.version_number) == (
        AuditAction.DELETE_DRAFT,
        world.admin,
        None,
        2,
    )
    assert entry.changes["number"] == 2
    assert [s["key"] for s in entry.changes["snapshot"]["sections"]] == ["opening", "resolution"]
    # Earlier entries about the discarded draft keep their number.
    assert RubricAuditEntry.objects.get(action=AuditAction.NEW_VERSION).version_number == 2


def test_a_published_or_retired_version_is_never_discarded(world):
    _rubric, v1 = make_rubric(actor=world.admin, publish=True)
    with pytest.raises(InvalidTransition, match="only an unused draft can be discarded"):
        services.draft_discard(version=v1, actor=world.admin)
    services.version_retire(version=v1, actor=world.admin)
    with pytest.raises(InvalidTransition):
        services.draft_discard(version=v1, actor=world.admin)
    assert RubricVersion.objects.filter(pk=v1.pk).exists()


def test_after_discarding_the_only_draft_a_new_one_starts_empty(world):
    rubric = services.rubric_create(name="Scratch", actor=world.admin)
    services.draft_discard(version=rubric.versions.get(), actor=world.admin)
    draft = services.version_new_draft(rubric=rubric, actor=world.admin)
    assert (draft.number, draft.based_on, draft.sections.count()) == (1, None, 0)


def test_system_work_without_an_actor_is_audited_as_no_one(world):
    rubric = services.rubric_create(name="Seeded", actor=None)
    assert audit(rubric)[0].actor is None
