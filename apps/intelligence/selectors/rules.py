"""Reads of rules and their executions: what the engine runs, and the rule pages and API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, Prefetch, QuerySet

from apps.common.errors import NotFound
from apps.conversations import selectors as conversations
from apps.rubrics import selectors as rubrics_selectors

from ..models import Rule, RuleExecution, RuleOperator
from ..operators.base import OperatorSpec
from .operators import can_read, latest_version, operator_spec

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

_SPECS: dict[tuple[int, Any], list[OperatorSpec]] = {}


def rule_specs(*, rule: Rule) -> list[OperatorSpec]:
    """The operator versions a rule runs now: pinned ones, else each operator's latest.

    Kept per process by (rule, rule.updated_at): every change to a rule, its operators or a new
    version of one of them touches the rule (services.rules_touch).
    """
    key = (rule.pk, rule.updated_at)
    cached = _SPECS.get(key)
    if cached is None:
        cached = _rule_specs(rule)
        if len(_SPECS) > 512:
            _SPECS.clear()
        _SPECS[key] = cached
    return cached


def _rule_specs(rule: Rule) -> list[OperatorSpec]:
    specs = []
    for item in rule.rule_operators.select_related("operator", "version__operator"):
        if not item.operator.is_active:
            continue
        version = item.version or latest_version(operator=item.operator)
        if version is not None:
            specs.append(operator_spec(version))
    return specs


def active_rules(*, trigger_on: str) -> list[Rule]:
    return list(Rule.objects.filter(is_active=True, trigger_on=trigger_on).order_by("id"))


def published_rubrics(*, user: Person) -> list[Any]:
    """Rubrics with a version in force (what Script Adherence may judge by), by name."""
    rubrics = rubrics_selectors.rubric_list(user=user)
    return [rubric for rubric in rubrics if getattr(rubric, "published_number", None)]


def rule_list(*, user: Person) -> QuerySet[Rule]:
    """Rules by name with their operators (in order, pinned versions) in a fixed number of
    queries; none for who may not read."""
    if not can_read(user):
        return Rule.objects.none()
    return (
        Rule.objects.select_related("flag_operator", "created_by")
        .prefetch_related(
            Prefetch(
                "rule_operators",
                queryset=RuleOperator.objects.select_related("operator", "version").order_by(
                    "position", "id"
                ),
            )
        )
        .order_by("name", "id")
    )


def rule_get(*, user: Person, pk: int) -> Rule:
    rule = rule_list(user=user).filter(pk=pk).first()
    if rule is None:
        raise NotFound("No such rule.")
    return rule


def execution_list(*, user: Person) -> QuerySet[RuleExecution]:
    """Executions on conversations ``user`` may see, newest first."""
    if not can_read(user):
        return RuleExecution.objects.none()
    return (
        RuleExecution.objects.filter(
            conversation__in=conversations.conversations_of(user=user).values("pk")
        )
        .select_related("rule", "requested_by")
        .order_by("-triggered_at", "-id")
    )


@dataclass
class RuleActivity:
    """What a rule did lately, in conversations the reader may see."""

    last_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)


def rule_activity(*, user: Person, rule_ids: list[int], since: datetime) -> dict[int, RuleActivity]:
    """Per rule: the time of its newest execution, and executions since ``since`` by status
    (two queries, whatever the number of rules)."""
    activity = {pk: RuleActivity() for pk in rule_ids}
    executions = execution_list(user=user).filter(rule_id__in=rule_ids).order_by()
    for latest in executions.values("rule_id").annotate(last=Max("triggered_at")):
        activity[latest["rule_id"]].last_at = latest["last"]
    recent = executions.filter(triggered_at__gte=since)
    for counted in recent.values("rule_id", "status").annotate(n=Count("id")):
        activity[counted["rule_id"]].counts[counted["status"]] = counted["n"]
    return activity
