"""Defining operators and rules (services.operators, services.rules): admins only, every problem
reported at once by its path, versions never changed, and the engine sees every change."""

from __future__ import annotations

from typing import Any

import pytest

from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.intelligence import builtins, selectors
from apps.intelligence import services as definitions
from apps.intelligence.choices import Backend, ConditionOp, OperatorKind, TriggerOn
from apps.intelligence.models import Operator, OperatorVersion, OutputFormat, Rule, RuleOperator
from apps.intelligence.services.rules import RuleInput, RuleOperatorInput
from tests.fixtures.rubrics import make_rubric

pytestmark = pytest.mark.django_db

CANCEL = {
    "labels": [{"label": "cancel", "keywords": ["cancel"]}],
    "default_label": "other",
}
REASON_SCHEMA = {
    "type": "object",
    "required": ["reason"],
    "properties": {"reason": {"type": "string"}},
}


def classifier(user: Any, **extra: Any) -> Operator:
    return definitions.operator_create(
        user=user,
        kind=OperatorKind.CLASSIFIER,
        name=extra.pop("name", "Cancel intent"),
        parameters=extra.pop("parameters", CANCEL),
        **extra,
    )


def rule_data(*operators: Operator, **extra: Any) -> RuleInput:
    fields: dict[str, Any] = {
        "name": "Cancellations",
        "trigger_on": TriggerOn.CONVERSATION_END,
        "operators": tuple(RuleOperatorInput(operator_id=op.pk) for op in operators),
    }
    return RuleInput(**(fields | extra))


def errors_of(call: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        call(**kwargs)
    return caught.value.errors


# Operators ----------------------------------------------------------------------------------


def test_operator_create_stores_a_classifier_and_its_version_1(world):
    operator = classifier(world.admin, note="First cut")
    assert (operator.key, operator.kind, operator.is_builtin) == (
        "cancel-intent",
        OperatorKind.CLASSIFIER,
        False,
    )
    (version,) = operator.versions.all()
    assert (version.number, version.backend, version.output_format) == (
        1,
        Backend.EMBEDDED,
        OutputFormat.CLASSIFICATION,
    )
    assert version.parameters == CANCEL
    assert version.output_schema == builtins.CLASSIFICATION_SCHEMA
    assert (version.note, version.created_by) == ("First cut", world.admin)


def test_operator_create_with_a_bad_regex_names_its_path_and_stores_nothing(world):
    parameters = {"labels": [{"label": "cancel", "regex": ["(unclosed"]}], "default_label": "x"}
    errors = errors_of(classifier, user=world.admin, parameters=parameters)
    (problem,) = errors["parameters"]
    assert problem.startswith("labels[0].regex[0]: ")
    assert not Operator.objects.filter(is_builtin=False).exists()
    assert not OperatorVersion.objects.filter(operator__is_builtin=False).exists()


def test_operator_create_reports_every_problem_at_once(world):
    errors = errors_of(
        definitions.operator_create,
        user=world.admin,
        kind=OperatorKind.EXTRACTOR,
        name=" ",
        key="Not A Slug",
        parameters={"patterns": [{"label": "order"}], "speaker": "robot"},
    )
    assert set(errors) == {"name", "key", "parameters"}
    assert errors["parameters"] == [
        "patterns[0]: needs a regex or keywords",
        "speaker: must be one of customer, agent, any, not 'robot'",
    ]


def test_operator_create_refuses_built_in_kinds_and_taken_keys(world):
    classifier(world.admin)
    assert "kind" in errors_of(
        definitions.operator_create, user=world.admin, kind=OperatorKind.SENTIMENT, name="S"
    )
    assert "key" in errors_of(classifier, user=world.admin, key="cancel-intent")


def test_operator_keys_made_from_names_do_not_collide(world):
    first, second = classifier(world.admin), classifier(world.admin)
    assert (first.key, second.key) == ("cancel-intent", "cancel-intent-2")


def test_an_llm_operator_with_an_invalid_schema_is_refused(world):
    errors = errors_of(
        definitions.operator_create,
        user=world.admin,
        kind=OperatorKind.LLM_PROMPT,
        name="Call reason",
        prompt="Why did they call?",
        output_schema={"type": "array", "items": {"type": "nonsense"}},
    )
    assert errors["output_schema"]
    assert not Operator.objects.filter(key="call-reason").exists()


def test_an_llm_operator_needs_a_prompt_and_an_object_schema(world):
    errors = errors_of(
        definitions.operator_create,
        user=world.admin,
        kind=OperatorKind.LLM_PROMPT,
        name="Call reason",
        prompt="",
        output_schema={"type": "string"},
    )
    assert set(errors) == {"prompt", "output_schema"}
    assert errors["output_schema"] == ['$: the schema\'s root must have "type": "object"']


def test_an_llm_operator_runs_on_the_llm_backend_with_json_output(world):
    operator = definitions.operator_create(
        user=world.admin,
        kind=OperatorKind.LLM_PROMPT,
        name="Call reason",
        prompt="Why did they call?",
        output_schema=REASON_SCHEMA,
    )
    version = operator.versions.get()
    assert (version.backend, version.output_format, version.output_schema, version.prompt) == (
        Backend.LLM,
        OutputFormat.JSON,
        REASON_SCHEMA,
        "Why did they call?",
    )


@pytest.mark.parametrize("persona", ["qa_analyst", "coach", "supervisor", "agent_user"])
def test_only_admins_define_operators(world, defaults, persona):
    user = getattr(world, persona)
    with pytest.raises(PermissionDenied):
        classifier(user)
    sentiment = Operator.objects.get(key="sentiment")
    with pytest.raises(PermissionDenied):
        definitions.operator_version_create(user=user, operator=sentiment, parameters={})
    with pytest.raises(PermissionDenied):
        definitions.operator_set_active(user=user, operator=sentiment, active=False)
    assert sentiment.versions.count() == 1


def test_editing_makes_version_2_and_keeps_version_1(world):
    operator = classifier(world.admin)
    wider = {**CANCEL, "labels": [{"label": "cancel", "keywords": ["cancel", "close"]}]}
    version = definitions.operator_version_create(
        user=world.admin, operator=operator, parameters=wider, note="Also 'close'"
    )
    assert version.number == 2
    v1, v2 = operator.versions.order_by("number")
    assert (v1.parameters, v2.parameters) == (CANCEL, wider)
    assert (v2.note, v2.created_by) == ("Also 'close'", world.admin)


def test_a_new_version_identical_to_the_latest_is_refused(world):
    operator = classifier(world.admin)
    errors = errors_of(
        definitions.operator_version_create, user=world.admin, operator=operator, parameters=CANCEL
    )
    assert errors == {"__all__": ["This is version 1 as it is; change something first."]}


def test_a_new_version_is_checked_like_the_first(world):
    operator = classifier(world.admin)
    errors = errors_of(
        definitions.operator_version_create,
        user=world.admin,
        operator=operator,
        parameters={"labels": [{"label": "x", "regex": ["a|"]}], "default_label": "o"},
        backend=Backend.LLM,
    )
    assert errors["parameters"] == ["labels[0].regex[0]: matches empty text"]
    assert errors["backend"]
    assert operator.versions.count() == 1


def test_a_built_in_operator_switches_to_the_llm_backend_in_a_new_version(world, defaults):
    summary = Operator.objects.get(key="summary")
    version = definitions.operator_version_create(
        user=world.admin, operator=summary, backend=Backend.LLM
    )
    assert (version.number, version.backend) == (2, Backend.LLM)
    assert version.parameters == summary.versions.get(number=1).parameters
    assert version.output_schema == builtins.SUMMARY_SCHEMA


def test_script_adherence_judges_by_a_rubric_with_a_published_version_only(world, defaults):
    adherence = Operator.objects.get(key="script-adherence")
    published, _ = make_rubric(actor=world.admin, name="Card services", publish=True)
    draft, _ = make_rubric(actor=world.admin, name="Not yet")
    errors = errors_of(
        definitions.operator_version_create,
        user=world.admin,
        operator=adherence,
        parameters={"rubric_id": draft.pk},
    )
    assert errors == {
        "parameters": [f"rubric_id: no rubric with a published version has id {draft.pk}"]
    }
    version = definitions.operator_version_create(
        user=world.admin, operator=adherence, parameters={"rubric_id": published.pk}
    )
    assert version.parameters == {"rubric_id": published.pk}


def test_built_in_counts_must_be_whole_numbers(world, defaults):
    summary = Operator.objects.get(key="summary")
    errors = errors_of(
        definitions.operator_version_create,
        user=world.admin,
        operator=summary,
        parameters={"max_sentences": "four", "max_chars": 0},
    )
    assert errors["parameters"] == [
        "max_sentences: must be a whole number",
        "max_chars: must be at least 1, not 0",
    ]


def test_switching_an_operator_off_and_on_is_guarded(world):
    operator = classifier(world.admin)
    assert definitions.operator_set_active(user=world.admin, operator=operator, active=False)
    assert not definitions.operator_set_active(user=world.admin, operator=operator, active=False)
    assert not Operator.objects.get(pk=operator.pk).is_active
    assert definitions.operator_set_active(user=world.admin, operator=operator, active=True)


# The engine sees every change ------------------------------------------------------------------


def test_rule_specs_pick_up_a_new_operator_version(world):
    operator = classifier(world.admin)
    rule = definitions.rule_create(user=world.admin, data=rule_data(operator))
    assert [spec.number for spec in selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))] == [1]
    wider = {**CANCEL, "labels": [{"label": "cancel", "keywords": ["cancel", "close"]}]}
    definitions.operator_version_create(user=world.admin, operator=operator, parameters=wider)
    specs = selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))
    assert [(spec.number, spec.parameters) for spec in specs] == [(2, wider)]


def test_rule_specs_keep_a_pinned_version(world):
    operator = classifier(world.admin)
    data = rule_data(operator)
    pinned = RuleInput(**(data.__dict__ | {"operators": (RuleOperatorInput(operator.pk, 1),)}))
    rule = definitions.rule_create(user=world.admin, data=pinned)
    definitions.operator_version_create(
        user=world.admin, operator=operator, parameters={**CANCEL, "default_label": "none"}
    )
    assert [s.number for s in selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))] == [1]


def test_rule_specs_drop_an_operator_switched_off(world):
    first, second = classifier(world.admin), classifier(world.admin, name="Other")
    rule = definitions.rule_create(user=world.admin, data=rule_data(first, second))
    assert len(selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))) == 2
    definitions.operator_set_active(user=world.admin, operator=second, active=False)
    specs = selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))
    assert [spec.operator_id for spec in specs] == [first.pk]


def test_rule_specs_follow_a_rule_update(world):
    first, second = classifier(world.admin), classifier(world.admin, name="Other")
    rule = definitions.rule_create(user=world.admin, data=rule_data(first))
    selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))
    definitions.rule_update(user=world.admin, rule=rule, data=rule_data(second, first))
    specs = selectors.rule_specs(rule=Rule.objects.get(pk=rule.pk))
    assert [spec.operator_id for spec in specs] == [second.pk, first.pk]


# Rules ------------------------------------------------------------------------------------------


def test_rule_create_stores_operators_in_order_and_the_actions(world):
    first, second = classifier(world.admin), classifier(world.admin, name="Other")
    rule = definitions.rule_create(
        user=world.admin,
        data=rule_data(
            second,
            first,
            trigger_on=TriggerOn.COMMUNICATION,
            every_n=5,
            flag=True,
            flag_operator_id=first.pk,
            flag_field="label",
            flag_op=ConditionOp.EQUALS,
            flag_value="cancel",
            flag_reason="Wants to cancel",
            webhook_url="https://example.com/hooks/ccportal",
            webhook_secret="a-shared-secret-for-the-hook",
        ),
    )
    assert list(RuleOperator.objects.filter(rule=rule).values_list("operator_id", "position")) == [
        (second.pk, 0),
        (first.pk, 1),
    ]
    assert (rule.every_n, rule.flag_operator_id, rule.flag_op, rule.created_by) == (
        5,
        first.pk,
        ConditionOp.EQUALS,
        world.admin,
    )


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"name": ""}, "name"),
        ({"trigger_on": "SOMETIMES"}, "trigger_on"),
        ({"every_n": 0}, "every_n"),
        ({"every_n": 21, "trigger_on": TriggerOn.COMMUNICATION}, "every_n"),
        ({"every_n": 3}, "every_n"),  # only COMMUNICATION rules count communications
        ({"operators": ()}, "operators"),
        ({"operators": (RuleOperatorInput(999_999),)}, "operators.0.operator"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"flag": True, "flag_op": ConditionOp.EQUALS, "flag_value": "x"}, "flag_operator"),
        (
            {"store_results": False, "broadcast": False, "flag": False, "webhook_url": ""},
            "__all__",
        ),
    ],
)
def test_rule_validation_names_the_field(world, extra, path):
    operator = classifier(world.admin)
    errors = errors_of(definitions.rule_create, user=world.admin, data=rule_data(operator, **extra))
    assert path in errors, errors
    assert not Rule.objects.filter(name="Cancellations").exists()


def test_the_flag_condition_reads_one_of_the_rules_operators_with_a_valid_op(world):
    mine, other = classifier(world.admin), classifier(world.admin, name="Other")
    errors = errors_of(
        definitions.rule_create,
        user=world.admin,
        data=rule_data(mine, flag=True, flag_operator_id=other.pk, flag_op="like"),
    )
    assert set(errors) == {"flag_operator", "flag_op"}
    errors = errors_of(
        definitions.rule_create,
        user=world.admin,
        data=rule_data(mine, flag=True, flag_operator_id=mine.pk, flag_op=ConditionOp.LESS_THAN),
    )
    assert errors == {"flag_value": ["Give the value to compare with."]}
    errors = errors_of(
        definitions.rule_create,
        user=world.admin,
        data=rule_data(
            mine,
            flag=True,
            flag_operator_id=mine.pk,
            flag_op=ConditionOp.GREATER_THAN,
            flag_value="high",
        ),
    )
    assert errors == {"flag_value": ["Give a number to compare with."]}


def test_a_pinned_version_must_exist_and_an_operator_appears_once(world):
    operator = classifier(world.admin)
    errors = errors_of(
        definitions.rule_create,
        user=world.admin,
        data=rule_data(
            operator,
            operators=(RuleOperatorInput(operator.pk, 7), RuleOperatorInput(operator.pk)),
        ),
    )
    assert set(errors) == {"operators.0.version", "operators.1.operator"}


def test_an_operator_switched_off_cannot_join_a_rule(world):
    operator = classifier(world.admin)
    definitions.operator_set_active(user=world.admin, operator=operator, active=False)
    errors = errors_of(definitions.rule_create, user=world.admin, data=rule_data(operator))
    assert "operators.0.operator" in errors


def test_without_flag_the_condition_is_not_kept(world):
    operator = classifier(world.admin)
    rule = definitions.rule_create(
        user=world.admin,
        data=rule_data(operator, flag=False, flag_operator_id=operator.pk, flag_value="x"),
    )
    assert (rule.flag_operator_id, rule.flag_value) == (None, "")


@pytest.mark.parametrize("persona", ["qa_analyst", "coach", "supervisor", "agent_user"])
def test_only_admins_define_rules(world, persona):
    operator = classifier(world.admin)
    rule = definitions.rule_create(user=world.admin, data=rule_data(operator))
    user = getattr(world, persona)
    with pytest.raises(PermissionDenied):
        definitions.rule_create(user=user, data=rule_data(operator, name="Mine"))
    with pytest.raises(PermissionDenied):
        definitions.rule_update(user=user, rule=rule, data=rule_data(operator, name="Mine"))
    with pytest.raises(PermissionDenied):
        definitions.rule_set_active(user=user, rule=rule, active=False)
    with pytest.raises(PermissionDenied):
        definitions.rule_delete(user=user, rule=rule)
    assert Rule.objects.get(pk=rule.pk).name == "Cancellations"


def test_switching_a_rule_off_is_guarded(world):
    rule = definitions.rule_create(user=world.admin, data=rule_data(classifier(world.admin)))
    assert definitions.rule_set_active(user=world.admin, rule=rule, active=False)
    assert not definitions.rule_set_active(user=world.admin, rule=rule, active=False)
    assert not Rule.objects.get(pk=rule.pk).is_active


def test_a_rule_is_deleted_but_a_default_rule_is_refused(world, defaults):
    rule = definitions.rule_create(user=world.admin, data=rule_data(classifier(world.admin)))
    definitions.rule_delete(user=world.admin, rule=rule)
    assert not Rule.objects.filter(pk=rule.pk).exists()
    default = Rule.objects.get(key="summary-at-end")
    with pytest.raises(Conflict):
        definitions.rule_delete(user=world.admin, rule=default)
    assert Rule.objects.filter(pk=default.pk).exists()


def test_rule_input_round_trips_a_stored_rule(world):
    operator = classifier(world.admin)
    data = rule_data(operator, broadcast=True)
    rule = definitions.rule_create(user=world.admin, data=data)
    assert definitions.rule_input(rule) == data


def test_a_new_version_of_a_prompt_keeps_what_was_not_given(world):
    operator = definitions.operator_create(
        user=world.admin,
        kind=OperatorKind.LLM_PROMPT,
        name="Call reason",
        prompt="Why did they call?",
        output_schema=REASON_SCHEMA,
    )
    version = definitions.operator_version_create(
        user=world.admin, operator=operator, prompt="Why did the customer call?"
    )
    assert (version.number, version.prompt, version.output_schema, version.backend) == (
        2,
        "Why did the customer call?",
        REASON_SCHEMA,
        Backend.LLM,
    )
