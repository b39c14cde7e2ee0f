"""API over language operators, rules and rule executions.

Reads: admins, QA analysts, coaches and supervisors (``FEATURES["intelligence"]``); anyone else
gets 403 on every route. Writes (operators, their versions, rules): admins only. Running a rule
on demand: ``FEATURES["intelligence_run"]``, on a conversation the caller may see (404 else).
Executions are listed only for conversations the caller may see. Every write is one call to
``services.operators`` and ``services.rules`` (or ``services.rule_run_on_demand``), which check the
same permission and validate; errors come back as 400 with ``extra.errors`` keyed by field path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.errors import ValidationFailed
from ccportal.viewsets import ErrorSerializer, IdFilter, ScopedReadOnlyViewSet

from .. import selectors, services
from ..choices import ExecutionStatus, OperatorKind, TriggerOn
from ..models import Operator, Rule, RuleExecution
from .serializers import (
    OperatorCreateSerializer,
    OperatorSerializer,
    OperatorVersionCreateSerializer,
    OperatorVersionSerializer,
    RuleExecutionSerializer,
    RuleRunSerializer,
    RuleSerializer,
    rule_input_from,
)

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

    def get_permissions(self) -> Sequence[Any]:
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

    def get_permissions(self) -> Sequence[Any]:
        if self.action in ("create", "update", "partial_update", "destroy"):
            return [permission() for permission in MANAGE]
        return super().get_permissions()

    def _detail(self, pk: int, *, code: int = status.HTTP_200_OK) -> Response:
        rule = selectors.rule_get(user=self.request.user, pk=pk)
        return Response(RuleSerializer(rule).data, status=code)

    def create(self, request: Request) -> Response:
        incoming = RuleSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        rule = services.rule_create(
            user=request.user, data=rule_input_from(incoming.validated_data)
        )
        return self._detail(rule.pk, code=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None, partial: bool = False) -> Response:
        rule = self.get_object()
        incoming = RuleSerializer(data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        base = services.rule_input(rule) if partial else None
        services.rule_update(
            user=request.user, rule=rule, data=rule_input_from(incoming.validated_data, base=base)
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
