"""The operator and rule pages as people use them: who may open what, the admin's forms (errors
next to fields, nothing typed lost) and "Run now" on a conversation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test.html import Element, parse_html
from django.urls import reverse

from apps.intelligence import services as definitions
from apps.intelligence.choices import Backend, OperatorKind, TriggerOn
from apps.intelligence.models import Operator, OperatorVersion, Rule, RuleExecution
from apps.intelligence.services.rules import RuleInput, RuleOperatorInput
from tests.fixtures.queries import queries_for
from tests.fixtures.rubrics import make_rubric

pytestmark = pytest.mark.django_db

READERS = ["admin", "qa_analyst", "coach", "supervisor"]
NON_ADMIN_READERS = ["qa_analyst", "coach", "supervisor"]
REFUSED = ["agent_user", "outsider"]
CANCEL = {"labels": [{"label": "cancel", "keywords": ["cancel"]}], "default_label": "other"}


def url(name: str, *args: Any) -> str:
    return reverse(name, args=args)


def _walk(node: Any):
    if isinstance(node, Element):
        yield node
        for child in node.children:
            yield from _walk(child)


def _text(node: Any) -> str:
    if isinstance(node, str):
        return node
    return " ".join(" ".join(_text(child) for child in node.children).split())


def by_testid(response, testid: str) -> list[str]:
    return [
        _text(element)
        for element in _walk(parse_html(response.content.decode()))
        if dict(element.attributes).get("data-testid") == testid
    ]


def field_errors(response) -> dict[str, list[str]]:
    """The messages shown next to fields, by field name."""
    found: dict[str, list[str]] = {}
    for element in _walk(parse_html(response.content.decode())):
        attributes = dict(element.attributes)
        if attributes.get("data-testid") == "field-error":
            found.setdefault(attributes.get("data-field", ""), []).append(_text(element))
    return found


def value_of(response, name: str) -> str:
    for element in _walk(parse_html(response.content.decode())):
        attributes = dict(element.attributes)
        if attributes.get("name") == name:
            return _text(element) if element.name == "textarea" else attributes.get("value", "")
    raise AssertionError(f"no field {name!r} on the page")


@pytest.fixture
def admin(world, client_for):
    return client_for(world.admin)


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


def rule_post(operators: list[Operator], **extra: Any) -> dict[str, Any]:
    post: dict[str, Any] = {
        "name": "Cancellations",
        "description": "",
        "is_active": "on",
        "trigger_on": TriggerOn.CONVERSATION_END,
        "every_n": "1",
        "store_results": "on",
        "flag_operator": "",
        "flag_field": "",
        "flag_op": "",
        "flag_value": "",
        "flag_reason": "",
        "webhook_url": "",
    }
    for position, operator in enumerate(operators, start=1):
        post[f"op_{operator.pk}_use"] = "on"
        post[f"op_{operator.pk}_order"] = str(position)
        post[f"op_{operator.pk}_version"] = ""
    return post | extra


# Who may open what ------------------------------------------------------------------------------


def every_url(rule: Rule, operator: Operator) -> list[tuple[str, str]]:
    return [
        ("GET", url("rule-list")),
        ("GET", url("rules-create")),
        ("POST", url("rules-create")),
        ("GET", url("rules-detail", rule.pk)),
        ("GET", url("rules-edit", rule.pk)),
        ("POST", url("rules-edit", rule.pk)),
        ("GET", url("rules-delete", rule.pk)),
        ("POST", url("rules-delete", rule.pk)),
        ("POST", url("rules-set-active", rule.pk)),
        ("POST", url("rules-run", rule.pk)),
        ("GET", url("rules-operator-list")),
        ("GET", url("rules-operator-create")),
        ("POST", url("rules-operator-create")),
        ("GET", url("rules-operator-detail", operator.pk)),
        ("GET", url("rules-operator-new-version", operator.pk)),
        ("POST", url("rules-operator-new-version", operator.pk)),
        ("POST", url("rules-operator-set-active", operator.pk)),
        ("GET", url("rules-detail", 999_999)),  # no such rule: still 403, ids do not leak
    ]


@pytest.mark.parametrize("persona", REFUSED)
def test_agents_and_people_without_a_role_get_403_on_every_rule_and_operator_page(
    world, client_for, rule, classifier, persona
):
    client = client_for(getattr(world, persona))
    for method, address in every_url(rule, classifier):
        data = {"conversation": world.north_call.pk, "request_key": "k", "active": "0"}
        response = client.post(address, data) if method == "POST" else client.get(address)
        assert response.status_code == 403, (method, address)
    assert Rule.objects.filter(pk=rule.pk, is_active=True).exists()
    assert not RuleExecution.objects.exists()


def test_anonymous_visitors_are_sent_to_sign_in(client, rule):
    response = client.get(url("rule-list"))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize("persona", READERS)
def test_staff_read_rules_and_operators(world, client_for, defaults, rule, classifier, persona):
    client = client_for(getattr(world, persona))
    for address in [
        url("rule-list"),
        url("rules-detail", rule.pk),
        url("rules-operator-list"),
        url("rules-operator-detail", classifier.pk),
        url("rules-operator-detail", Operator.objects.get(key="script-adherence").pk),
    ]:
        assert client.get(address).status_code == 200, address


@pytest.mark.parametrize("persona", NON_ADMIN_READERS)
def test_staff_who_read_get_403_on_every_write_and_see_no_write_buttons(
    world, client_for, rule, classifier, persona
):
    client = client_for(getattr(world, persona))
    writes = [
        ("GET", url("rules-create")),
        ("POST", url("rules-create")),
        ("GET", url("rules-edit", rule.pk)),
        ("POST", url("rules-edit", rule.pk)),
        ("POST", url("rules-delete", rule.pk)),
        ("POST", url("rules-set-active", rule.pk)),
        ("GET", url("rules-operator-create")),
        ("POST", url("rules-operator-new-version", classifier.pk)),
        ("POST", url("rules-operator-set-active", classifier.pk)),
    ]
    for method, address in writes:
        response = (
            client.post(address, {"active": "0"}) if method == "POST" else client.get(address)
        )
        assert response.status_code == 403, (method, address)
    page = client.get(url("rules-detail", rule.pk))
    assert not by_testid(page, "edit-rule") and not by_testid(page, "switch-off")
    assert by_testid(page, "run-form")  # but they may run it
    assert not by_testid(client.get(url("rule-list")), "new-rule")
    assert Rule.objects.get(pk=rule.pk).is_active
    assert classifier.versions.count() == 1


def test_the_rules_entry_of_the_navigation_is_marked_on_rule_and_operator_pages(
    admin, rule, classifier
):
    for address in [url("rule-list"), url("rules-detail", rule.pk), url("rules-operator-list")]:
        page = admin.get(address).content.decode()
        assert f'class="nav-link active" aria-current="page" href="{url("rule-list")}"' in page


# Operators --------------------------------------------------------------------------------------


def test_the_operator_list_shows_kind_version_state_and_the_rules_using_it(
    admin, defaults, rule, classifier
):
    page = admin.get(url("rules-operator-list"))
    rows = by_testid(page, "operator-row")
    assert len(rows) == Operator.objects.count()
    (row,) = [r for r in rows if r.startswith("Cancel intent")]
    assert "Classifier" in row and "v1" in row and "On" in row and "Cancellations" in row
    assert any(r.startswith("Sentiment Built in") for r in rows)


def test_new_operator_starts_by_choosing_a_kind(admin):
    page = admin.get(url("rules-operator-create"))
    assert page.status_code == 200
    (kinds,) = by_testid(page, "kinds")
    assert "Classifier" in kinds and "Extractor" in kinds and "Language model prompt" in kinds


def test_admin_creates_a_classifier_and_lands_on_it(admin):
    response = admin.post(
        url("rules-operator-create"),
        {
            "kind": OperatorKind.CLASSIFIER,
            "name": "Cancel intent",
            "key": "",
            "parameters": json.dumps(CANCEL),
            "note": "first",
        },
    )
    operator = Operator.objects.get(key="cancel-intent")
    assert response.status_code == 302
    assert response["Location"] == url("rules-operator-detail", operator.pk)
    assert operator.versions.get().parameters == CANCEL


def test_a_classifier_with_a_bad_regex_shows_its_path_and_keeps_what_was_typed(admin):
    typed = json.dumps(
        {"labels": [{"label": "cancel", "regex": ["(unclosed"]}], "default_label": "other"},
        indent=2,
    )
    response = admin.post(
        url("rules-operator-create"),
        {"kind": OperatorKind.CLASSIFIER, "name": "Cancel intent", "parameters": typed},
    )
    assert response.status_code == 200
    (problem,) = field_errors(response)["parameters"]
    assert problem.startswith("labels[0].regex[0]: ")
    assert value_of(response, "name") == "Cancel intent"
    assert json.loads(value_of(response, "parameters")) == json.loads(typed)
    assert not Operator.objects.filter(is_builtin=False).exists()


def test_parameters_that_are_not_json_say_where(admin):
    response = admin.post(
        url("rules-operator-create"),
        {"kind": OperatorKind.EXTRACTOR, "name": "Orders", "parameters": '{"patterns": [}'},
    )
    (problem,) = field_errors(response)["parameters"]
    assert problem.startswith("This is not JSON:") and "line 1" in problem
    assert not Operator.objects.filter(is_builtin=False).exists()


def test_an_llm_operator_with_an_invalid_schema_is_refused(admin):
    response = admin.post(
        url("rules-operator-create"),
        {
            "kind": OperatorKind.LLM_PROMPT,
            "name": "Call reason",
            "prompt": "Why did they call?",
            "output_schema": json.dumps({"type": "string"}),
        },
    )
    assert response.status_code == 200
    assert field_errors(response)["output_schema"] == [
        '$: the schema\'s root must have "type": "object"'
    ]
    assert value_of(response, "prompt") == "Why did they call?"
    assert not Operator.objects.filter(key="call-reason").exists()


def test_editing_an_operator_saves_version_2_and_keeps_version_1(admin, classifier):
    form = admin.get(url("rules-operator-new-version", classifier.pk))
    assert json.loads(value_of(form, "parameters")) == CANCEL  # prefilled with the latest
    wider = {**CANCEL, "labels": [{"label": "cancel", "keywords": ["cancel", "close"]}]}
    response = admin.post(
        url("rules-operator-new-version", classifier.pk),
        {"parameters": json.dumps(wider), "note": "Also close"},
    )
    assert response.status_code == 302
    v1, v2 = OperatorVersion.objects.filter(operator=classifier).order_by("number")
    assert (v1.parameters, v2.parameters, v2.note) == (CANCEL, wider, "Also close")
    page = admin.get(url("rules-operator-detail", classifier.pk))
    assert [row.split()[1] for row in by_testid(page, "version-row")] == ["2", "1"]


def test_a_bad_new_version_keeps_what_was_typed_and_saves_nothing(admin, classifier):
    typed = '{"labels": [], "default_label": "other"}'
    response = admin.post(
        url("rules-operator-new-version", classifier.pk), {"parameters": typed, "note": "x"}
    )
    assert field_errors(response)["parameters"] == ["labels: needs at least one label"]
    assert value_of(response, "parameters") == typed
    assert classifier.versions.count() == 1


def test_script_adherence_offers_rubrics_with_a_published_version(world, admin, defaults):
    adherence = Operator.objects.get(key="script-adherence")
    published, _ = make_rubric(actor=world.admin, name="Card services", publish=True)
    make_rubric(actor=world.admin, name="Still a draft")
    form = admin.get(url("rules-operator-new-version", adherence.pk)).content.decode()
    assert "Card services (version 1 in force)" in form and "Still a draft" not in form
    response = admin.post(
        url("rules-operator-new-version", adherence.pk),
        {"backend": Backend.LLM, "rubric": str(published.pk), "parameters": "{}", "note": ""},
    )
    assert response.status_code == 302
    latest = adherence.versions.order_by("-number").first()
    assert (latest.number, latest.backend, latest.parameters) == (
        2,
        Backend.LLM,
        {"rubric_id": published.pk},
    )


def test_admin_switches_an_operator_off_and_on(admin, classifier):
    admin.post(url("rules-operator-set-active", classifier.pk), {"active": "0"})
    assert not Operator.objects.get(pk=classifier.pk).is_active
    page = admin.get(url("rules-operator-detail", classifier.pk))
    assert by_testid(page, "operator-state") == ["Off"] and by_testid(page, "switch-on")
    admin.post(url("rules-operator-set-active", classifier.pk), {"active": "1"})
    assert Operator.objects.get(pk=classifier.pk).is_active


# Rules ------------------------------------------------------------------------------------------


def test_the_rule_list_shows_trigger_operators_actions_and_recent_activity(
    world, admin, rule, classifier
):
    RuleExecution.objects.create(
        rule=rule,
        conversation=world.north_call,
        trigger_on=TriggerOn.ON_DEMAND,
        trigger_point="ON_DEMAND:x",
        status="FAILED",
        triggered_at=rule.created_at,
    )
    rows = by_testid(admin.get(url("rule-list")), "rule-row")
    (row,) = [r for r in rows if r.startswith("Cancellations")]
    assert "Cancellations" in row and "Only on demand" in row and "Cancel intent" in row
    assert "Store results" in row and "1 failed" in row


def test_admin_creates_a_rule_and_lands_on_it(admin, classifier):
    response = admin.post(
        url("rules-create"),
        rule_post(
            [classifier],
            flag="on",
            flag_operator=str(classifier.pk),
            flag_field="label",
            flag_op="eq",
            flag_value="cancel",
        ),
    )
    rule = Rule.objects.get(name="Cancellations")
    assert response.status_code == 302 and response["Location"] == url("rules-detail", rule.pk)
    assert [item.operator_id for item in rule.rule_operators.all()] == [classifier.pk]
    page = admin.get(url("rules-detail", rule.pk))
    assert by_testid(page, "rule-flag") == ["Raised when Cancel intent's “label” equals “cancel”"]


def test_an_invalid_rule_shows_errors_next_to_fields_and_keeps_what_was_typed(admin, classifier):
    response = admin.post(
        url("rules-create"),
        rule_post(
            [classifier],
            every_n="4",  # only for COMMUNICATION rules
            webhook_url="ftp://example.com/in",
            flag="on",
            flag_op="eq",
            flag_value="cancel",
        ),
    )
    assert response.status_code == 200
    errors = field_errors(response)
    assert set(errors) == {"every_n", "webhook_url", "webhook_secret", "flag_operator"}
    assert value_of(response, "webhook_url") == "ftp://example.com/in"
    assert value_of(response, "flag_value") == "cancel"
    assert not Rule.objects.filter(name="Cancellations").exists()


def test_a_rule_needs_an_operator(admin, classifier):
    response = admin.post(url("rules-create"), rule_post([]))
    assert field_errors(response)["operators"] == ["Choose at least one operator to run."]
    assert not Rule.objects.filter(name="Cancellations").exists()


def test_every_n_out_of_range_is_refused_by_the_form(admin, classifier):
    response = admin.post(
        url("rules-create"),
        rule_post([classifier], trigger_on=TriggerOn.COMMUNICATION, every_n="21"),
    )
    assert "every_n" in field_errors(response)
    assert not Rule.objects.filter(name="Cancellations").exists()


def test_admin_edits_a_rule_pinning_a_version(admin, rule, classifier):
    definitions.operator_version_create(
        user=rule.created_by, operator=classifier, parameters={**CANCEL, "default_label": "none"}
    )
    form = admin.get(url("rules-edit", rule.pk))
    assert value_of(form, "name") == "Cancellations"
    post = rule_post([classifier], name="Cancellations v1", trigger_on=TriggerOn.ON_DEMAND)
    post[f"op_{classifier.pk}_version"] = "1"
    assert admin.post(url("rules-edit", rule.pk), post).status_code == 302
    rule.refresh_from_db()
    (item,) = rule.rule_operators.all()
    assert (rule.name, item.version.number) == ("Cancellations v1", 1)


def test_deleting_a_rule_asks_first(admin, rule):
    page = admin.get(url("rules-delete", rule.pk))
    assert by_testid(page, "confirm")
    assert Rule.objects.filter(pk=rule.pk).exists()
    response = admin.post(url("rules-delete", rule.pk))
    assert response["Location"] == url("rule-list")
    assert not Rule.objects.filter(pk=rule.pk).exists()


def test_a_default_rule_is_switched_off_not_deleted(admin, defaults):
    default = Rule.objects.get(key="summary-at-end")
    response = admin.post(url("rules-delete", default.pk))
    assert response["Location"] == url("rules-detail", default.pk)
    assert Rule.objects.filter(pk=default.pk).exists()
    admin.post(url("rules-set-active", default.pk), {"active": "0"})
    assert not Rule.objects.get(pk=default.pk).is_active


# Run now ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", READERS)
def test_staff_run_a_rule_now_and_land_on_the_conversation(world, client_for, rule, persona):
    client = client_for(getattr(world, persona))
    page = client.get(url("rules-detail", rule.pk))
    key = value_of(page, "request_key")
    assert uuid.UUID(key)
    response = client.post(
        url("rules-run", rule.pk), {"conversation": world.north_call.pk, "request_key": key}
    )
    assert response.status_code == 302
    assert response["Location"] == url("conversation-detail", world.north_call.pk)
    (execution,) = RuleExecution.objects.all()
    assert (execution.trigger_point, execution.requested_by) == (
        f"ON_DEMAND:{key}",
        getattr(world, persona),
    )


def test_run_now_submitted_twice_with_the_same_key_runs_once(world, admin, rule):
    form = {"conversation": world.north_call.pk, "request_key": uuid.uuid4().hex}
    first = admin.post(url("rules-run", rule.pk), form)
    second = admin.post(url("rules-run", rule.pk), form)
    assert first.status_code == second.status_code == 302
    assert RuleExecution.objects.count() == 1


def test_each_run_now_form_is_a_new_run(world, admin, rule):
    for _ in range(2):
        key = value_of(admin.get(url("rules-detail", rule.pk)), "request_key")
        admin.post(
            url("rules-run", rule.pk), {"conversation": world.north_call.pk, "request_key": key}
        )
    assert RuleExecution.objects.count() == 2


def test_run_now_on_a_conversation_the_user_cannot_see_is_a_404(world, client_for, rule):
    coach = client_for(world.coach)  # leads north only
    response = coach.post(
        url("rules-run", rule.pk), {"conversation": world.south_call.pk, "request_key": "k1"}
    )
    assert response.status_code == 404
    assert field_errors(response)["conversation"] == [
        f"There is no conversation {world.south_call.pk} you may see."
    ]
    assert value_of(response, "conversation") == str(world.south_call.pk)
    assert not RuleExecution.objects.exists()


def test_run_now_without_a_conversation_asks_for_one(admin, rule):
    response = admin.post(url("rules-run", rule.pk), {"conversation": "", "request_key": "k"})
    assert response.status_code == 200
    assert "conversation" in field_errors(response)
    assert not RuleExecution.objects.exists()


def test_the_rule_page_lists_recent_executions_on_visible_conversations_only(
    world, client_for, rule
):
    for conversation in (world.north_call, world.south_call):
        RuleExecution.objects.create(
            rule=rule,
            conversation=conversation,
            trigger_on=TriggerOn.ON_DEMAND,
            trigger_point="ON_DEMAND:seen",
            triggered_at=rule.created_at,
            error="boom" if conversation == world.south_call else "",
        )
    assert (
        len(by_testid(client_for(world.admin).get(url("rules-detail", rule.pk)), "execution-row"))
        == 2
    )
    rows = by_testid(client_for(world.coach).get(url("rules-detail", rule.pk)), "execution-row")
    assert len(rows) == 1 and f"#{world.north_call.pk}" in rows[0]


# Query counts -----------------------------------------------------------------------------------


def test_the_lists_take_a_fixed_number_of_queries(world, admin, defaults, rule, classifier):
    addresses = [url("rule-list"), url("rules-operator-list")]
    before = {address: queries_for(admin, address) for address in addresses}
    for n in range(3):
        operator = definitions.operator_create(
            user=world.admin, kind=OperatorKind.CLASSIFIER, name=f"More {n}", parameters=CANCEL
        )
        definitions.rule_create(
            user=world.admin,
            data=RuleInput(
                name=f"More {n}",
                trigger_on=TriggerOn.ON_DEMAND,
                operators=(RuleOperatorInput(operator.pk), RuleOperatorInput(classifier.pk, 1)),
            ),
        )
    assert {address: queries_for(admin, address) for address in addresses} == before
