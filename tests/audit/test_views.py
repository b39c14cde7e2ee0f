"""The audit pages, their CSV and the API list: admins only, filters, bounded queries."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pghistory
import pytest
from django.urls import reverse
from django.utils import timezone

from apps.intelligence.models import Rule
from apps.knowledge.models import KnowledgeArticle
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

LIST = reverse("audit-list")
CSV = reverse("audit-csv")
API = "/api/audit/events/"


def _rules(n: int, *, user: int | None = None, reason: str = "") -> list[Rule]:
    with pghistory.context(user=user, reason=reason):
        rules = [
            Rule.objects.create(name=f"Rule {i}", trigger_on="CONVERSATION_END") for i in range(n)
        ]
        for rule in rules:
            Rule.objects.filter(pk=rule.pk).update(description="Watch for churn")
    return rules


def _csv(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("persona", ["qa_analyst", "coach", "supervisor", "agent_user", "outsider"])
def test_audit_pages_and_api_are_for_admins_only(world, client_for, persona):
    rule = _rules(1)[0]
    client = client_for(getattr(world, persona))

    for url in (LIST, CSV, reverse("audit-object", args=["rule", rule.pk])):
        assert client.get(url).status_code == 403, url
    assert client.get(API).status_code == 403


def test_audit_pages_send_anonymous_visitors_to_sign_in(client):
    assert client.get(LIST).status_code == 302
    assert client.get(API).status_code in (401, 403)


def test_global_page_shows_actor_change_and_reason(world, client_for):
    rule = _rules(1, user=world.admin.pk, reason="Churn spike in May")[0]

    response = client_for(world.admin).get(LIST, {"kind": "rule", "actor": "ada"})

    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('data-testid="audit-event"') == 2
    assert "Churn spike in May" in body and ">ada<" in body
    assert f"Rule #{rule.pk}" in body
    assert "Watch for churn" in body  # the description's after value


def test_global_page_filters_by_actor_reason_object_action_and_date(world, client_for):
    client = client_for(world.admin)
    before = client.get(LIST, {"kind": "rule"}).content.decode().count('data-testid="audit-event"')
    mine = _rules(2, user=world.admin.pk, reason="Quarterly review")
    _rules(3, user=world.qa_analyst.pk, reason="Cleanup")

    def count(**params: object) -> int:
        response = client.get(LIST, params)
        assert response.status_code == 200, response.content
        return response.content.decode().count('data-testid="audit-event"')

    assert count(kind="rule") == before + 10
    assert count(kind="rule", actor="ADA") == 4
    assert count(kind="rule", reason="quarterly") == 4
    assert count(kind="rule", object=mine[0].pk) == 2
    assert count(kind="rule", action="insert", reason="e") == 5
    today = timezone.localdate()
    assert count(kind="rule", since=today, until=today) == before + 10
    assert count(kind="rule", until=today - timedelta(days=1)) == 0
    assert count(actor="nobody-by-that-name") == 0


def test_global_page_rejects_bad_filters_with_a_400(world, client_for):
    client = client_for(world.admin)

    assert client.get(LIST, {"kind": "password"}).status_code == 400
    assert client.get(LIST, {"since": "2026-02-30"}).status_code == 400
    assert client.get(LIST, {"object": "99999999999999999999999"}).status_code == 400
    assert client.get(API, {"since": "2026-05-02", "until": "2026-05-01"}).status_code == 400


def test_global_page_queries_do_not_grow_with_events(world, client_for):
    client = client_for(world.admin)
    _rules(2, user=world.admin.pk)
    few = queries_for(client, LIST)

    _rules(20, user=world.qa_analyst.pk)
    KnowledgeArticle.objects.create(title="Lost card", body="Freeze it in the app.")

    assert queries_for(client, LIST) == few


def test_csv_export_streams_the_filtered_events_with_changes(world, client_for):
    rule = _rules(1, user=world.admin.pk, reason="Churn spike")[0]
    _rules(2, user=world.qa_analyst.pk)

    response = client_for(world.admin).get(CSV, {"actor": "ada"})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert [r["action"] for r in rows] == ["update", "insert"]
    assert {r["object_id"] for r in rows} == {str(rule.pk)}
    assert rows[0]["actor"] == "ada" and rows[0]["reason"] == "Churn spike"
    assert json.loads(rows[0]["changes"]) == {"description": ["", "Watch for churn"]}


def test_object_history_shows_its_events_and_survives_deletion(world, client_for):
    rule = _rules(1, user=world.admin.pk)[0]
    other = _rules(1)[0]
    pk = rule.pk
    rule.delete()

    response = client_for(world.admin).get(reverse("audit-object", args=["rule", pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('data-testid="audit-event"') == 3
    assert "It no longer exists" in body
    assert f"#{other.pk}" not in body
    assert client_for(world.admin).get("/audit/password/1/").status_code == 404


def test_api_lists_events_for_admins(world, client_for):
    rule = _rules(1, user=world.admin.pk, reason="Churn spike")[0]

    response = client_for(world.admin).get(API, {"kind": "rule", "action": "update"})

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 1
    event = data["results"][0]
    assert event["object_id"] == str(rule.pk) and event["actor"] == "ada"
    assert event["reason"] == "Churn spike"
    assert event["changes"] == [
        {"field": "description", "name": "description", "before": "", "after": "Watch for churn"}
    ]
