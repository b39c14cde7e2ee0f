"""API over language operators, rules and rule executions.

Reads: admins, QA analysts, coaches and supervisors (``FEATURES["intelligence"]``); anyone else
gets 403 on every route. Writes (operators, their versions, rules): admins only. Running a rule
on demand: ``FEATURES["intelligence_run"]``, on a conversation the caller may see (404 else).
Executions are listed only for conversations the caller may see. Every write is one call to
``services.definitions`` (or ``services.rule_run_on_demand``), which checks the same permission
and validates; its errors come back as 400 with ``extra.errors`` keyed by field path.
"""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.errors import ValidationFailed
from ccportal.viewsets import ErrorSerializer, IdFilter, ScopedReadOnlyViewSet

from .. import selectors, services
from ..choices import CUSTOM_KINDS, ConditionOp, ExecutionStatus, OperatorKind, TriggerOn
from ..models import Operator, OperatorVersion, Rule, RuleExecution
from ..services.rules import RuleInput, RuleOperatorInput

_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such row.")
_FORBIDDEN = OpenApiResponse(
    ErrorSerializer, description="Not signed in, or not a role that may do this."
)
_INVALID = OpenApiResponse(
    ErrorSerializer,
    description="Nothing was written: every problem, by field path (`extra.errors`).",
)
IDEMPOTENCY_KEY_MAX = 100


class CanRead(BasePermission):
    message = "Only admins, QA analysts, coaches and supervisors may see operators and rules."

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.can_read(request.user)


class CanManage(BasePermission):
    message = "Only admins may change operators and rules."

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.can_manage(request.user)


class CanRun(BasePermission):
    message = "Only admins, QA analysts, coaches and supervisors may run rules."

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.can_run(request.user)


READ = [IsAuthenticated, CanRead]
MANAGE = [IsAuthenticated, CanRead, CanManage]
RUN = [IsAuthenticated, CanRead, CanRun]


# Serializers ------------------------------------------------------------------------------------


class OperatorVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.StringRelatedField(help_text="Who saved it; null when built in.")

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
        choices=OperatorVersion._meta.get_field("backend").choices,
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
        required=False, allow_blank=True, default="", help_text="http(s) URL, or empty."
    )
    created_by = serializers.StringRelatedField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class RuleExecutionSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    requested_by = serializers.StringRelatedField(help_text="Who ran it on demand.")

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


def _rule_input(data: dict[str, Any], *, base: RuleInput | None = None) -> RuleInput:
    """The service's input from validated fields; a PATCH starts from the stored rule."""
    values: dict[str, Any] = dict(base.__dict__) if base is not None else {}
    for name in services.RULE_SCALAR_FIELDS:
        if name in data:
            values[name] = data[name]
    if "flag_operator_id" in data:
        values["flag_operator_id"] = data["flag_operator_id"]
    if "rule_operators" in data:
        values["operators"] = tuple(
            RuleOperatorInput(operator_id=item["operator_id"], version=item.get("version"))
            for item in data["rule_operators"]
        )
    return RuleInput(**values)


# Operators --------------------------------------------------------------------------------------


class OperatorFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=OperatorKind.choices, label="Operator kind")
    is_active = django_filters.BooleanFilter(label="Switched on")
    is_builtin = django_filters.BooleanFilter(label="Built in")

    class Meta:
        model = Operator
        fields = ["kind", "is_active", "is_builtin"]


@extend_schema_view(
    list=extend_schema(
        summary="List language operators",
        responses={200: OperatorSerializer(many=True), 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="Get a language operator",
        description="One operator with all its versions, newest first.",
        responses={200: OperatorSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class OperatorViewSet(ScopedReadOnlyViewSet):
    """Language operators: the four built in, and admins' classifiers, extractors and prompts."""

    selector = selectors.operator_list
    serializer_class = OperatorSerializer
    permission_classes = READ
    filterset_class = OperatorFilter
    ordering_fields = ["name", "key", "created_at", "updated_at"]

    def get_permissions(self) -> list[BasePermission]:
        if self.action == "create":
            return [permission() for permission in MANAGE]
        return super().get_permissions()

    def _detail(self, pk: int, *, code: int = status.HTTP_200_OK) -> Response:
        operator = selectors.operator_get(user=self.request.user, pk=pk)
        return Response(OperatorSerializer(operator).data, status=code)

    @extend_schema(
        summary="Create a custom operator",
        description="A CLASSIFIER or EXTRACTOR (`parameters`, checked with every problem named "
        "by its path, e.g. `labels[0].regex[0]`) or an LLM_PROMPT (`prompt` and "
        "`output_schema`). Nothing is stored when anything is wrong.",
        request=OperatorCreateSerializer,
        responses={201: OperatorSerializer, 400: _INVALID, 403: _FORBIDDEN},
    )
    def create(self, request: Request) -> Response:
        incoming = OperatorCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        operator = services.operator_create(
            user=request.user,
            kind=data["kind"],
            name=data["name"],
            key=data.get("key", ""),
            description=data.get("description", ""),
            parameters=data.get("parameters"),
            prompt=data.get("prompt", ""),
            output_schema=data.get("output_schema"),
            note=data.get("note", ""),
        )
        return self._detail(operator.pk, code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Add a version to an operator",
        description="Versions never change: an edit is the next version, which rules that do "
        "not pin a version run from their next execution. Fields left out are copied from the "
        "latest version; 400 when nothing would change.",
        request=OperatorVersionCreateSerializer,
        responses={201: OperatorVersionSerializer, 400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"], permission_classes=MANAGE, filter_backends=[])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        operator = self.get_object()
        incoming = OperatorVersionCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        version = services.operator_version_create(
            user=request.user,
            operator=operator,
            backend=data.get("backend"),
            parameters=data.get("parameters"),
            prompt=data.get("prompt"),
            output_schema=data.get("output_schema"),
            note=data.get("note", ""),
        )
        return Response(OperatorVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Switch an operator on",
        request=None,
        responses={200: OperatorSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"], permission_classes=MANAGE, filter_backends=[])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        operator = self.get_object()
        services.operator_set_active(user=request.user, operator=operator, active=True)
        return self._detail(operator.pk)

    @extend_schema(
        summary="Switch an operator off",
        description="Rules skip it until it is switched on again.",
        request=None,
        responses={200: OperatorSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"], permission_classes=MANAGE, filter_backends=[])
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        operator = self.get_object()
        services.operator_set_active(user=request.user, operator=operator, active=False)
        return self._detail(operator.pk)


# Rules ------------------------------------------------------------------------------------------


class RuleFilter(django_filters.FilterSet):
    trigger_on = django_filters.ChoiceFilter(choices=TriggerOn.choices, label="Trigger")
    is_active = django_filters.BooleanFilter(label="Switched on")

    class Meta:
        model = Rule
        fields = ["trigger_on", "is_active"]


@extend_schema_view(
    list=extend_schema(
        summary="List rules", responses={200: RuleSerializer(many=True), 403: _FORBIDDEN}
    ),
    retrieve=extend_schema(
        summary="Get a rule", responses={200: RuleSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND}
    ),
    create=extend_schema(
        summary="Create a rule",
        request=RuleSerializer,
        responses={201: RuleSerializer, 400: _INVALID, 403: _FORBIDDEN},
    ),
    update=extend_schema(
        summary="Replace a rule",
        description="The whole definition, operators included; executions already made keep "
        "what they ran.",
        request=RuleSerializer,
        responses={200: RuleSerializer, 400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a rule",
        description="`operators`, when given, replaces the whole list.",
        request=RuleSerializer,
        responses={200: RuleSerializer, 400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
    destroy=extend_schema(
        summary="Delete a rule",
        description="With its execution history. 409 for a default rule (switch it off "
        "instead: it would come back with the next update).",
        responses={
            204: None,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: OpenApiResponse(ErrorSerializer, description="A default rule."),
        },
    ),
)
class RuleViewSet(ScopedReadOnlyViewSet):
    """Rules: operators to run, when, and what to do with their results."""

    selector = selectors.rule_list
    serializer_class = RuleSerializer
    permission_classes = READ
    filterset_class = RuleFilter
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_permissions(self) -> list[BasePermission]:
        if self.action in ("create", "update", "partial_update", "destroy"):
            return [permission() for permission in MANAGE]
        return super().get_permissions()

    def _detail(self, pk: int, *, code: int = status.HTTP_200_OK) -> Response:
        rule = selectors.rule_get(user=self.request.user, pk=pk)
        return Response(RuleSerializer(rule).data, status=code)

    def create(self, request: Request) -> Response:
        incoming = RuleSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        rule = services.rule_create(user=request.user, data=_rule_input(incoming.validated_data))
        return self._detail(rule.pk, code=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None, partial: bool = False) -> Response:
        rule = self.get_object()
        incoming = RuleSerializer(data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        base = services.rule_input(rule) if partial else None
        services.rule_update(
            user=request.user, rule=rule, data=_rule_input(incoming.validated_data, base=base)
        )
        return self._detail(rule.pk)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.rule_delete(user=request.user, rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Run a rule now on a conversation",
        description="Queues one execution (trigger point `ON_DEMAND:<key>`) and answers at "
        "once; its results follow. With the same `Idempotency-Key`, a retried request gets the "
        "first execution back instead of running again. 404 when the caller may not see the "
        "conversation.",
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                description=f"Any string up to {IDEMPOTENCY_KEY_MAX} characters, e.g. a UUID.",
            )
        ],
        request=RuleRunSerializer,
        responses={
            202: RuleExecutionSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"], permission_classes=RUN, filter_backends=[])
    def run(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        incoming = RuleRunSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if len(key) > IDEMPOTENCY_KEY_MAX:
            raise ValidationFailed(
                {"Idempotency-Key": [f"At most {IDEMPOTENCY_KEY_MAX} characters."]}
            )
        execution = services.rule_run_on_demand(
            user=request.user,
            rule_id=rule.pk,
            conversation_id=incoming.validated_data["conversation"],
            request_key=key,
        )
        execution.rule = rule
        return Response(RuleExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


# Executions -------------------------------------------------------------------------------------


class ExecutionFilter(django_filters.FilterSet):
    rule = IdFilter(field_name="rule__id", label="Rule id")
    conversation = IdFilter(field_name="conversation__id", label="Conversation id")
    status = django_filters.ChoiceFilter(choices=ExecutionStatus.choices, label="Status")

    class Meta:
        model = RuleExecution
        fields = ["rule", "conversation", "status"]


@extend_schema_view(
    list=extend_schema(
        summary="List rule executions",
        description="Newest first, on conversations the caller may see.",
        responses={
            200: RuleExecutionSerializer(many=True),
            400: OpenApiResponse(ErrorSerializer, description="A filter value is invalid."),
            403: _FORBIDDEN,
        },
    ),
    retrieve=extend_schema(
        summary="Get a rule execution",
        responses={200: RuleExecutionSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class ExecutionViewSet(ScopedReadOnlyViewSet):
    """Runs of rules on conversations: one per trigger point, with status and error."""

    selector = selectors.execution_list
    serializer_class = RuleExecutionSerializer
    permission_classes = READ
    filterset_class = ExecutionFilter
    ordering_fields = ["triggered_at", "finished_at"]
