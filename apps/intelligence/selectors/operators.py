"""Reads of language operators: what a rule runs (specs), and the operator pages and API."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound

from ..models import Operator, OperatorResult, OperatorVersion, Rule, RuleOperator
from ..operators.base import OperatorSpec

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def can_read(user: Person) -> bool:
    return can_use(user, "intelligence")


def can_manage(user: Person) -> bool:
    return can_use(user, "intelligence_manage")


def can_run(user: Person) -> bool:
    return can_use(user, "intelligence_run")


def operator_spec(version: OperatorVersion) -> OperatorSpec:
    operator = version.operator
    return OperatorSpec(
        version_id=version.pk,
        operator_id=operator.pk,
        key=operator.key,
        name=operator.name,
        kind=operator.kind,
        number=version.number,
        backend=version.backend,
        output_format=version.output_format,
        parameters=dict(version.parameters or {}),
        output_schema=dict(version.output_schema or {}),
        prompt=version.prompt,
    )


def latest_version(*, operator: Operator) -> OperatorVersion | None:
    return operator.versions.order_by("-number").select_related("operator").first()


def operator_list(*, user: Person) -> QuerySet[Operator]:
    """Operators, built-in first, each with ``current_number`` and ``current_backend`` (its
    latest version) and its versions prefetched, newest first; none for who may not read."""
    if not can_read(user):
        return Operator.objects.none()
    latest = OperatorVersion.objects.filter(operator=OuterRef("pk")).order_by("-number")
    return (
        Operator.objects.select_related("created_by")
        .annotate(
            current_number=Subquery(latest.values("number")[:1]),
            current_backend=Subquery(latest.values("backend")[:1]),
        )
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=OperatorVersion.objects.select_related("created_by").order_by("-number"),
            )
        )
        .order_by("-is_builtin", "name", "id")
    )


def operator_get(*, user: Person, pk: int) -> Operator:
    operator = operator_list(user=user).filter(pk=pk).first()
    if operator is None:
        raise NotFound("No such operator.")
    return operator


def rules_using(*, operator_ids: list[int]) -> dict[int, list[Rule]]:
    """The rules running each operator, by name."""
    used: dict[int, list[Rule]] = {pk: [] for pk in operator_ids}
    for item in (
        RuleOperator.objects.filter(operator_id__in=operator_ids)
        .select_related("rule")
        .order_by("rule__name", "rule_id")
    ):
        used.setdefault(item.operator_id, []).append(item.rule)
    return used


def operator_result_count(*, user: Person, operator: Operator, since: datetime) -> int:
    """Results of the operator's versions since ``since``, in conversations ``user`` may see."""
    return (
        OperatorResult.objects.for_user(user)
        .filter(definition__operator=operator, created_at__gte=since)
        .count()
    )
