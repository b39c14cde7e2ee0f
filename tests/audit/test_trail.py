"""The audit trail records every change to a tracked row, whoever wrote it, and keeps it."""

from __future__ import annotations

from datetime import timedelta

import pghistory
import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.audit import selectors, services
from apps.audit.models import RubricVersionEvent, RuleEvent
from apps.audit.tracked import BY_SLUG
from apps.common.audit import audit_reason
from apps.intelligence.models import Rule
from apps.rubrics.models import RubricVersion
from ccportal.auditing import command_context, task_finished, task_started
from tests.fixtures import rubrics

pytestmark = pytest.mark.django_db


def _history(kind: str, pk: int) -> list[selectors.Event]:
    return selectors.event_rows(selectors.object_events(BY_SLUG[kind], pk))


def _changed(event: selectors.Event) -> dict[str, tuple[object, object]]:
    return {c.column: (c.before, c.after) for c in event.changes}


def _rule(**extra: object) -> Rule:
    return Rule.objects.create(name="Angry customers", trigger_on="CONVERSATION_END", **extra)


def test_publish_through_the_page_records_actor_request_reason_and_before_after(world, client_for):
    _, version = rubrics.make_rubric(actor=world.admin, name="Card services")
    RubricVersion.objects.filter(pk=version.pk).update(notes="Greeting within 30 s")

    response = client_for(world.admin).post(
        reverse("rubric-version-publish", args=[version.rubric_id, version.number])
    )

    assert response.status_code == 302
    latest = _history("rubric-version", version.pk)[0]
    assert latest.action == "update"
    assert latest.actor_id == world.admin.pk
    assert latest.actor_name == "ada"
    assert latest.context["method"] == "POST"
    assert latest.source.startswith("POST /rubrics/")
    assert latest.reason == "Greeting within 30 s"
    assert _changed(latest)["status"] == ("DRAFT", "PUBLISHED")
    assert _changed(latest)["published_by_id"] == (None, world.admin.pk)


def test_queryset_update_is_recorded_by_the_trigger(db):
    rule = _rule()

    Rule.objects.filter(pk=rule.pk).update(name="Very angry customers", is_active=False)

    (created,) = [e for e in _history("rule", rule.pk) if e.action == "insert"]
    (changed,) = [e for e in _history("rule", rule.pk) if e.action == "update"]
    assert _changed(changed) == {
        "name": ("Angry customers", "Very angry customers"),
        "is_active": (True, False),
    }
    assert changed.actor_id is None  # no request, task or command: and still recorded
    assert created.context == {}


def test_an_update_of_excluded_fields_only_records_nothing(world):
    rule_count = RuleEvent.objects.count()
    world.admin.last_login = timezone.now()
    world.admin.save(update_fields=["last_login"])
    world.admin.set_password("new secret")
    world.admin.save()

    events = _history("user", world.admin.pk)
    assert [e.action for e in events] == ["update", "insert"]  # the password change only
    assert _changed(events[0]) == {}  # recorded, the hash not kept
    assert "password" not in _changed(events[1]) and "last_login" not in _changed(events[1])
    assert RuleEvent.objects.count() == rule_count


def test_delete_is_recorded_with_the_last_values(db):
    rule = _rule()
    pk = rule.pk

    rule.delete()

    deleted = _history("rule", pk)[0]
    assert deleted.action == "delete"
    assert _changed(deleted)["name"] == ("Angry customers", None)


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_audit_rows_cannot_be_changed_or_deleted(db, statement):
    _rule()
    rows = RuleEvent.objects.all()

    with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
        if statement == "update":
            rows.update(pgh_label="tampered")
        else:
            rows.delete()

    assert RuleEvent.objects.filter(pgh_label="tampered").count() == 0


def test_retention_purge_deletes_old_events_only(db):
    _rule()
    RuleEvent.objects.count()

    assert services.events_purge(before=timezone.now() - timedelta(days=1)) == 0
    assert services.events_purge(before=timezone.now() + timedelta(seconds=1)) >= 1
    assert RuleEvent.objects.count() == 0

    # The bypass lasted for the purge only.
    _rule(key="again")
    with pytest.raises(DatabaseError), transaction.atomic():
        RuleEvent.objects.all().delete()


def test_reason_is_on_the_service_calls_changes_only(db):
    @audit_reason()
    def rename(*, rule: Rule, name: str, reason: str) -> None:
        Rule.objects.filter(pk=rule.pk).update(name=name)

    rule = _rule()
    with pghistory.context(user=7):
        rename(rule=rule, name="Renamed", reason="Clearer for supervisors")
        Rule.objects.filter(pk=rule.pk).update(description="later, in the same request")

    later, renamed, _ = _history("rule", rule.pk)
    assert renamed.reason == "Clearer for supervisors"
    assert renamed.actor_id == 7
    assert later.reason == "" and later.actor_id == 7


def test_commands_and_tasks_name_themselves(db):
    with command_context(["manage.py", "load_demo"]):
        rule = _rule()

    class Task:
        name = "apps.qa.tasks.sweep_qa"

    task_started(task_id="t-1", task=Task())
    try:
        Rule.objects.filter(pk=rule.pk).update(name="From a task")
    finally:
        task_finished(task_id="t-1")
    Rule.objects.filter(pk=rule.pk).update(name="Outside")

    outside, by_task, by_command = _history("rule", rule.pk)
    assert by_command.source == "command load_demo"
    assert by_task.source == "task apps.qa.tasks.sweep_qa"
    assert outside.source == ""


def test_rubric_version_history_includes_its_criteria(world):
    _, version = rubrics.make_rubric(actor=world.admin, name="Card services")

    kinds = {e.kind for e in _history("rubric-version", version.pk)}

    assert {"rubric-version", "section", "criterion"} <= kinds
    assert RubricVersionEvent.objects.filter(pgh_obj_id=version.pk).exists()


def test_api_writes_with_a_token_are_attributed_to_its_user(world):
    from django.test import Client

    from apps.accounts import services as accounts

    issued = accounts.api_token_create(user=world.admin, name="audit test")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")

    response = client.post(
        "/api/knowledge/",
        {"title": "Lost card", "body": "Freeze it in the app.", "tags": []},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    created = _history("article", response.json()["id"])[0]
    assert created.action == "insert"
    assert created.actor_id == world.admin.pk  # set by DRF in the view, after the middleware
    assert created.source == "POST /api/knowledge/"
