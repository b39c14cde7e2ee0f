"""Serializers of the operator, rule and execution API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .. import services
from ..choices import CUSTOM_KINDS, Backend, ConditionOp, TriggerOn
from ..models import Operator, OperatorVersion, RuleExecution
from ..services.rules import RuleInput, RuleOperatorInput


class OperatorVersionSerializer(serializers.ModelSerializer):
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField(
        help_text="Who saved it; null when built in."
    )

    class Meta:
        model = OperatorVersion
        fields = [
            "id",
            "number",
            "backend",
            "parameters",
            "output_format",
            "output_schema",
            "prompt",
            "note",
            "created_at",
            "created_by",
        ]
        read_only_fields = fields


class OperatorSerializer(serializers.ModelSerializer):
    current_version = serializers.IntegerField(
        source="current_number",
        read_only=True,
        allow_null=True,
        help_text="Number of the latest version (what rules run unless they pin one).",
    )
    versions = OperatorVersionSerializer(many=True, read_only=True, help_text="Newest first.")

    class Meta:
        model = Operator
        fields = [
            "id",
            "key",
            "name",
            "description",
            "kind",
            "is_builtin",
            "is_active",
            "current_version",
            "created_at",
            "updated_at",
            "versions",
        ]
        read_only_fields = fields


class OperatorCreateSerializer(serializers.Serializer):
    """A custom operator and the settings of its version 1."""

    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in CUSTOM_KINDS])
    name = serializers.CharField(max_length=services.NAME_MAX)
    key = serializers.CharField(
        max_length=services.KEY_MAX,
        required=False,
        allow_blank=True,
        help_text="A slug; made from the name when left out.",
    )
    description = serializers.CharField(required=False, allow_blank=True)
    parameters = serializers.JSONField(
        required=False,
        help_text="CLASSIFIER and EXTRACTOR: labels or patterns (see the docs of "
        "apps.intelligence.nlp.patterns).",
    )
    prompt = serializers.CharField(
        required=False, allow_blank=True, help_text="LLM_PROMPT: the instructions."
    )
    output_schema = serializers.JSONField(
        required=False,
        help_text='LLM_PROMPT: a JSON Schema (2020-12) whose root is "type": "object".',
    )
    note = serializers.CharField(max_length=services.NOTE_MAX, required=False, allow_blank=True)


class OperatorVersionCreateSerializer(serializers.Serializer):
    """An operator's next version; what is left out is copied from the latest version."""

    backend = serializers.ChoiceField(
        choices=Backend.choices,
        required=False,
        help_text="Built-in operators may switch; classifiers and extractors run embedded, "
        "prompts on a language model.",
    )
    parameters = serializers.JSONField(required=False)
    prompt = serializers.CharField(required=False, allow_blank=True)
    output_schema = serializers.JSONField(required=False, help_text="LLM_PROMPT operators only.")
    note = serializers.CharField(max_length=services.NOTE_MAX, required=False, allow_blank=True)


class PinnedVersionField(serializers.IntegerField):
    """The number of the pinned operator version; null runs the operator's latest version."""

    def get_attribute(self, instance: Any) -> Any:
        version = getattr(instance, "version", None)
        return version.number if version is not None else None


class RuleOperatorSerializer(serializers.Serializer):
    operator = serializers.IntegerField(source="operator_id", help_text="Operator id.")
    operator_key = serializers.CharField(source="operator.key", read_only=True)
    operator_name = serializers.CharField(source="operator.name", read_only=True)
    version = PinnedVersionField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Number of a pinned version; null (the default) runs the latest version.",
    )


class RuleSerializer(serializers.Serializer):
    """A rule: trigger, operators in order, and actions (store, broadcast, flag, webhook)."""

    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(
        read_only=True, allow_null=True, help_text="Set on the default rules only."
    )
    name = serializers.CharField(max_length=services.NAME_MAX)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(required=False, default=True)
    trigger_on = serializers.ChoiceField(choices=TriggerOn.choices)
    every_n = serializers.IntegerField(
        required=False,
        default=1,
        help_text="COMMUNICATION rules: run after every N communications (1-20); 1 otherwise.",
    )
    operators = RuleOperatorSerializer(
        many=True, source="rule_operators", help_text="At least one; run in this order."
    )
    store_results = serializers.BooleanField(required=False, default=True)
    broadcast = serializers.BooleanField(required=False, default=False)
    flag = serializers.BooleanField(
        required=False, default=False, help_text="Raise a flag for QA review."
    )
    flag_operator = serializers.IntegerField(
        source="flag_operator_id",
        required=False,
        allow_null=True,
        default=None,
        help_text="One of the rule's operators, whose result the condition reads; null flags "
        "every run.",
    )
    flag_field = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Dotted path, e.g. `label`."
    )
    flag_op = serializers.ChoiceField(
        choices=ConditionOp.choices, required=False, allow_blank=True, default=""
    )
    flag_value = serializers.CharField(required=False, allow_blank=True, default="")
    flag_reason = serializers.CharField(required=False, allow_blank=True, default="")
    webhook_url = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="https URL of a public address, or empty.",
    )
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Signs the webhook's requests (X-Ccportal-Signature); required with a "
        "webhook_url (at least 16 characters). Never returned; omit it to keep the current one.",
    )
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class RuleExecutionSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    requested_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField(
        help_text="Who ran it on demand."
    )

    class Meta:
        model = RuleExecution
        fields = [
            "id",
            "rule",
            "rule_name",
            "conversation",
            "trigger_on",
            "trigger_point",
            "status",
            "requested_by",
            "triggered_at",
            "started_at",
            "finished_at",
            "attempts",
            "error",
        ]
        read_only_fields = fields


class RuleRunSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(min_value=1, help_text="Conversation id.")


# Helpers ----------------------------------------------------------------------------------------


def rule_input_from(data: dict[str, Any], *, base: RuleInput | None = None) -> RuleInput:
    """The service's input from validated fields; a PATCH starts from the stored rule."""
    values: dict[str, Any] = dict(base.__dict__) if base is not None else {}
    for name in services.RULE_SCALAR_FIELDS:
        if name in data:
            values[name] = data[name]
    if "flag_operator_id" in data:
        values["flag_operator_id"] = data["flag_operator_id"]
    if data.get("webhook_secret"):
        values["webhook_secret"] = data["webhook_secret"]
    if "rule_operators" in data:
        values["operators"] = tuple(
            RuleOperatorInput(operator_id=item["operator_id"], version=item.get("version"))
            for item in data["rule_operators"]
        )
    return RuleInput(**values)


# Operators --------------------------------------------------------------------------------------
