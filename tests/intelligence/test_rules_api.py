"""The operators, rules and executions API: staff read, admins change, staff run rules on
conversations they may see; agents and outsiders are refused everything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.intelligence import selectors
from apps.intelligence import services as definitions
from apps.intelligence.choices import Backend, OperatorKind, TriggerOn
from apps.intelligence.models import Operator, OperatorVersion, Rule, RuleExecution, RuleOperator
from apps.intelligence.services.rules import RuleInput, RuleOperatorInput
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

READERS = ["admin", "qa_analyst", "coach", "supervisor"]
NON_ADMIN_READERS = ["qa_analyst", "coach", "supervisor"]
REFUSED = ["agent_user", "outsider"]
CANCEL = {"labels": [{"label": "cancel", "keywords": ["cancel"]}], "default_label": "other"}


def post(client: Client, path: str, body: Any = None, **headers: Any):
    return client.post(
        path, json.dumps(body or {}), content_type="application/json", headers=headers
    )


def send(client: Client, method: str, path: str, body: Any = None):
    return getattr(client, method)(path, json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def classifier(world) -> Operator:
    return definitions.operator_create(
        user=world.admin, kind=OperatorKind.CLASSIFIER, name="Cancel intent", parameters=CANCEL
    )


@pytest.fixture
def rule(world, classifier) -> Rule:
    return definitions.rule_create(
        user=world.admin,
        data=RuleInput(
            name="Cancellations",
            trigger_on=TriggerOn.ON_DEMAND,
            operators=(RuleOperatorInput(classifier.pk),),
        ),
    )


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Operator, OperatorVersion, Rule, RuleOperator, RuleExecution)
    }


# Who may do what --------------------------------------------------------------------------------


def read_paths(rule: Rule, operator: Operator) -> list[str]:
    return [
        "/api/operators/",
        f"/api/operators/{operator.pk}/",
        "/api/rules/",
        f"/api/rules/{rule.pk}/",
        "/api/executions/",
    ]


@pytest.mark.parametrize("persona", READERS)
def test_staff_read_operators_rules_and_executions(world, client_for, rule, classifier, persona):
    client = client_for(getattr(world, persona))
    for path in read_paths(rule, classifier):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("persona", REFUSED)
def test_agents_and_outsiders_are_refused_every_route(world, client_for, rule, classifier, persona):
    client = client_for(getattr(world, persona))
    for path in read_paths(rule, classifier):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "detail" in response.json()
    before = row_counts()
    writes = [
        ("post", "/api/operators/", {"kind": "CLASSIFIER", "name": "x", "parameters": CANCEL}),
        ("post", f"/api/operators/{classifier.pk}/versions/", {"parameters": CANCEL}),
        ("post", f"/api/operators/{classifier.pk}/deactivate/", None),
        ("post", "/api/rules/", {"name": "x"}),
        ("patch", f"/api/rules/{rule.pk}/", {"name": "x"}),
        ("delete", f"/api/rules/{rule.pk}/", None),
        ("post", f"/api/rules/{rule.pk}/run/", {"conversation": world.north_call.pk}),
    ]
    for method, path, body in writes:
        response = send(client, method, path, body)
        assert response.status_code == 403, (method, path)
        assert response["Content-Type"].startswith("application/json")
    assert row_counts() == before


def test_anonymous_callers_are_refused():
    assert Client().get("/api/rules/").status_code == 403
    assert Client().get("/api/operators/").status_code == 403


@pytest.mark.parametrize("persona", NON_ADMIN_READERS)
def test_only_admins_change_operators_and_rules(world, client_for, rule, classifier, persona):
    client = client_for(getattr(world, persona))
    before = row_counts()
    writes = [
        ("post", "/api/operators/", {"kind": "CLASSIFIER", "name": "x", "parameters": CANCEL}),
        ("post", f"/api/operators/{classifier.pk}/versions/", {"parameters": CANCEL}),
        ("post", f"/api/operators/{classifier.pk}/deactivate/", None),
        ("post", "/api/rules/", {"name": "x"}),
        ("put", f"/api/rules/{rule.pk}/", {"name": "x"}),
        ("patch", f"/api/rules/{rule.pk}/", {"name": "x"}),
        ("delete", f"/api/rules/{rule.pk}/", None),
    ]
    for method, path, body in writes:
        assert send(client, method, path, body).status_code == 403, (method, path)
    assert row_counts() == before


# Operators --------------------------------------------------------------------------------------


def test_operators_are_listed_with_their_versions(world, client_for, defaults, classifier):
    definitions.operator_version_create(
        user=world.admin, operator=classifier, parameters={**CANCEL, "default_label": "none"}
    )
    body = client_for(world.coach).get("/api/operators/", {"page_size": 100}).json()
    by_key = {row["key"]: row for row in body["results"]}
    assert {"sentiment", "summary", "next-best-response", "script-adherence"} <= set(by_key)
    mine = by_key["cancel-intent"]
    assert (mine["kind"], mine["is_builtin"], mine["current_version"]) == ("CLASSIFIER", False, 2)
    assert [(v["number"], v["created_by"]) for v in mine["versions"]] == [(2, "ada"), (1, "ada")]
    assert by_key["sentiment"]["versions"][0]["created_by"] is None


def test_admin_creates_a_classifier(world, client_for):
    response = post(
        client_for(world.admin),
        "/api/operators/",
        {"kind": "CLASSIFIER", "name": "Cancel intent", "parameters": CANCEL, "note": "v1"},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["key"], body["current_version"]) == ("cancel-intent", 1)
    assert body["versions"][0]["parameters"] == CANCEL


def test_a_bad_regex_is_a_400_naming_its_path_and_stores_nothing(world, client_for):
    before = row_counts()
    response = post(
        client_for(world.admin),
        "/api/operators/",
        {
            "kind": "CLASSIFIER",
            "name": "Cancel intent",
            "parameters": {"labels": [{"label": "x", "regex": ["(oops"]}], "default_label": "o"},
        },
    )
    assert response.status_code == 400
    (problem,) = response.json()["extra"]["errors"]["parameters"]
    assert problem.startswith("labels[0].regex[0]: ")
    assert row_counts() == before


def test_an_llm_operator_with_an_invalid_schema_is_a_400(world, client_for):
    response = post(
        client_for(world.admin),
        "/api/operators/",
        {
            "kind": "LLM_PROMPT",
            "name": "Call reason",
            "prompt": "Why?",
            "output_schema": {"type": "object", "required": "reason"},
        },
    )
    assert response.status_code == 400
    assert response.json()["extra"]["errors"]["output_schema"]
    assert not Operator.objects.filter(key="call-reason").exists()


def test_a_built_in_kind_cannot_be_created(world, client_for):
    response = post(
        client_for(world.admin), "/api/operators/", {"kind": "SENTIMENT", "name": "Mine"}
    )
    assert response.status_code == 400


def test_admin_adds_a_version_and_the_rules_using_it_run_it(world, client_for, rule, classifier):
    selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))  # cached at version 1
    wider = {**CANCEL, "labels": [{"label": "cancel", "keywords": ["cancel", "close"]}]}
    response = post(
        client_for(world.admin),
        f"/api/operators/{classifier.pk}/versions/",
        {"parameters": wider, "note": "close too"},
    )
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["parameters"]) == (2, wider)
    assert classifier.versions.get(number=1).parameters == CANCEL
    (spec,) = selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))
    assert spec.number == 2


def test_a_version_that_changes_nothing_is_a_400(world, client_for, classifier):
    response = post(client_for(world.admin), f"/api/operators/{classifier.pk}/versions/", {})
    assert response.status_code == 400
    assert classifier.versions.count() == 1


def test_a_built_in_operator_switches_backend(world, client_for, defaults):
    summary = Operator.objects.get(key="summary")
    response = post(
        client_for(world.admin), f"/api/operators/{summary.pk}/versions/", {"backend": "llm"}
    )
    assert response.status_code == 201
    assert response.json()["backend"] == Backend.LLM


def test_admin_switches_an_operator_off_and_on(world, client_for, classifier):
    client = client_for(world.admin)
    assert post(client, f"/api/operators/{classifier.pk}/deactivate/").json()["is_active"] is False
    assert post(client, f"/api/operators/{classifier.pk}/activate/").json()["is_active"] is True


def test_an_unknown_operator_is_a_404(world, client_for):
    assert client_for(world.admin).get("/api/operators/999999/").status_code == 404


# Rules ------------------------------------------------------------------------------------------


def test_rules_are_listed_with_their_operators(world, client_for, rule, classifier):
    body = client_for(world.supervisor).get(f"/api/rules/{rule.pk}/").json()
    assert body["operators"] == [
        {
            "operator": classifier.pk,
            "operator_key": "cancel-intent",
            "operator_name": "Cancel intent",
            "version": None,
        }
    ]
    assert (body["trigger_on"], body["every_n"], body["created_by"]) == ("ON_DEMAND", 1, "ada")


def test_admin_creates_a_rule(world, client_for, classifier):
    response = post(
        client_for(world.admin),
        "/api/rules/",
        {
            "name": "Every 5",
            "trigger_on": "COMMUNICATION",
            "every_n": 5,
            "operators": [{"operator": classifier.pk, "version": 1}],
            "flag": True,
            "flag_operator": classifier.pk,
            "flag_field": "label",
            "flag_op": "eq",
            "flag_value": "cancel",
            "webhook_url": "https://example.com/hook",
            "webhook_secret": "a-shared-secret-for-the-hook",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["operators"][0]["version"] == 1
    assert "webhook_secret" not in body  # write-only
    rule = Rule.objects.get(pk=body["id"])
    assert rule.webhook_secret == "a-shared-secret-for-the-hook"
    assert (rule.every_n, rule.flag_operator_id, rule.webhook_url) == (
        5,
        classifier.pk,
        "https://example.com/hook",
    )


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"operators": []}, "operators"),
        ({"every_n": 4}, "every_n"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        (
            {"flag": True, "flag_operator": 999_999, "flag_op": "eq", "flag_value": "x"},
            "flag_operator",
        ),
        ({"flag": True, "flag_op": "eq", "flag_value": "x"}, "flag_operator"),
    ],
)
def test_invalid_rules_are_a_400_naming_the_field(world, client_for, classifier, change, path):
    body = {
        "name": "Mine",
        "trigger_on": "CONVERSATION_END",
        "operators": [{"operator": classifier.pk}],
    } | change
    response = post(client_for(world.admin), "/api/rules/", body)
    assert response.status_code == 400
    assert path in response.json()["extra"]["errors"]
    assert not Rule.objects.filter(name="Mine").exists()


def test_a_bad_flag_op_is_refused_before_the_service(world, client_for, classifier):
    response = post(
        client_for(world.admin),
        "/api/rules/",
        {
            "name": "Mine",
            "trigger_on": "CONVERSATION_END",
            "operators": [{"operator": classifier.pk}],
            "flag": True,
            "flag_operator": classifier.pk,
            "flag_op": "like",
        },
    )
    assert response.status_code == 400
    assert "flag_op" in response.json()["errors"]


def test_patch_changes_only_what_is_given(world, client_for, rule, classifier):
    response = send(
        client_for(world.admin), "patch", f"/api/rules/{rule.pk}/", {"is_active": False}
    )
    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.is_active, rule.name, rule.trigger_on) == (False, "Cancellations", "ON_DEMAND")
    assert [o.operator_id for o in rule.rule_operators.all()] == [classifier.pk]


def test_put_replaces_the_rule(world, client_for, defaults, rule, classifier):
    sentiment = Operator.objects.get(key="sentiment")
    response = send(
        client_for(world.admin),
        "put",
        f"/api/rules/{rule.pk}/",
        {
            "name": "Renamed",
            "trigger_on": "CONVERSATION_END",
            "operators": [{"operator": sentiment.pk}, {"operator": classifier.pk}],
        },
    )
    assert response.status_code == 200
    assert [o["operator_key"] for o in response.json()["operators"]] == [
        "sentiment",
        "cancel-intent",
    ]


def test_admin_deletes_a_rule_but_not_a_default_one(world, client_for, defaults, rule):
    client = client_for(world.admin)
    assert send(client, "delete", f"/api/rules/{rule.pk}/").status_code == 204
    default = Rule.objects.get(key="summary-at-end")
    assert send(client, "delete", f"/api/rules/{default.pk}/").status_code == 409
    assert Rule.objects.filter(pk=default.pk).exists()


# Running a rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", READERS)
def test_staff_run_a_rule_on_a_conversation_they_see(world, client_for, rule, persona):
    response = post(
        client_for(getattr(world, persona)),
        f"/api/rules/{rule.pk}/run/",
        {"conversation": world.north_call.pk},
    )
    assert response.status_code == 202
    body = response.json()
    execution = RuleExecution.objects.get()
    assert (body["id"], body["status"], body["trigger_point"]) == (
        execution.pk,
        "PENDING",
        execution.trigger_point,
    )
    assert body["trigger_point"].startswith("ON_DEMAND:")


def test_the_same_idempotency_key_runs_once(world, client_for, rule):
    client = client_for(world.admin)
    bodies = [
        post(
            client,
            f"/api/rules/{rule.pk}/run/",
            {"conversation": world.north_call.pk},
            **{"Idempotency-Key": "retry-me"},
        ).json()
        for _ in range(2)
    ]
    assert bodies[0]["id"] == bodies[1]["id"]
    assert bodies[0]["trigger_point"] == "ON_DEMAND:retry-me"
    assert RuleExecution.objects.count() == 1


def test_without_a_key_every_request_is_a_new_run(world, client_for, rule):
    client = client_for(world.admin)
    for _ in range(2):
        post(client, f"/api/rules/{rule.pk}/run/", {"conversation": world.north_call.pk})
    assert RuleExecution.objects.count() == 2


def test_running_on_a_conversation_the_caller_cannot_see_is_a_404(world, client_for, rule):
    response = post(
        client_for(world.coach), f"/api/rules/{rule.pk}/run/", {"conversation": world.south_call.pk}
    )
    assert response.status_code == 404
    assert not RuleExecution.objects.exists()


def test_an_overlong_idempotency_key_is_a_400(world, client_for, rule):
    response = post(
        client_for(world.admin),
        f"/api/rules/{rule.pk}/run/",
        {"conversation": world.north_call.pk},
        **{"Idempotency-Key": "k" * 101},
    )
    assert response.status_code == 400
    assert not RuleExecution.objects.exists()


# Executions -------------------------------------------------------------------------------------


def test_executions_are_scoped_to_conversations_the_caller_sees(world, client_for, rule):
    for conversation in (world.north_call, world.south_call):
        definitions_run = post(
            client_for(world.admin), f"/api/rules/{rule.pk}/run/", {"conversation": conversation.pk}
        )
        assert definitions_run.status_code == 202
    everything = client_for(world.qa_analyst).get("/api/executions/").json()
    assert everything["count"] == 2
    north = client_for(world.coach).get("/api/executions/").json()
    assert [row["conversation"] for row in north["results"]] == [world.north_call.pk]
    south = client_for(world.admin).get(
        "/api/executions/", {"rule": rule.pk, "conversation": world.south_call.pk}
    )
    assert [row["conversation"] for row in south.json()["results"]] == [world.south_call.pk]
    hidden = RuleExecution.objects.get(conversation=world.south_call)
    assert client_for(world.coach).get(f"/api/executions/{hidden.pk}/").status_code == 404


# Query counts and schema ------------------------------------------------------------------------


def test_lists_take_a_fixed_number_of_queries(world, client_for, rule, classifier):
    client = client_for(world.admin)
    paths = ["/api/operators/", "/api/rules/", "/api/executions/"]
    post(client, f"/api/rules/{rule.pk}/run/", {"conversation": world.north_call.pk})
    small = {path: queries_for(client, path) for path in paths}
    for n in range(3):
        operator = definitions.operator_create(
            user=world.admin, kind=OperatorKind.CLASSIFIER, name=f"More {n}", parameters=CANCEL
        )
        more = definitions.rule_create(
            user=world.admin,
            data=RuleInput(
                name=f"More {n}",
                trigger_on=TriggerOn.ON_DEMAND,
                operators=(RuleOperatorInput(operator.pk), RuleOperatorInput(classifier.pk, 1)),
            ),
        )
        post(client, f"/api/rules/{more.pk}/run/", {"conversation": world.south_call.pk})
    assert {path: queries_for(client, path) for path in paths} == small


def test_schema_documents_the_routes(world, client_for):
    schema = client_for(world.admin).get("/api/schema/", {"format": "json"}).json()
    for path in [
        "/api/operators/",
        "/api/operators/{id}/",
        "/api/operators/{id}/versions/",
        "/api/operators/{id}/activate/",
        "/api/operators/{id}/deactivate/",
        "/api/rules/",
        "/api/rules/{id}/",
        "/api/rules/{id}/run/",
        "/api/executions/",
        "/api/executions/{id}/",
    ]:
        assert path in schema["paths"], path
    run = schema["paths"]["/api/rules/{id}/run/"]["post"]
    assert "202" in run["responses"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in run["parameters"])
