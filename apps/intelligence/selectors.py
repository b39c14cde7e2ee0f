"""Reads of the intelligence app: what operators see, and what pages and the API show."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Max, OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from apps.accounts.scoping import can_use
from apps.conversations.models import Communication, Conversation
from apps.rubrics import selectors as rubrics_selectors

from .models import (
    Operator,
    OperatorResult,
    OperatorVersion,
    Rule,
    RuleExecution,
    RuleOperator,
)
from .operators.base import OperatorSpec, TranscriptLine

_ROLE = {"CUSTOMER": "customer", "HUMAN_AGENT": "agent", "AI_AGENT": "agent", "AGENT": "agent"}
_WORD = re.compile(r"[a-z0-9]+")


def transcript_lines(*, conversation_id: int) -> list[TranscriptLine]:
    """Every communication of the conversation in spoken order, as operators read them."""
    rows = (
        Communication.objects.filter(conversation_id=conversation_id)
        .order_by(F("offset_ms").asc(nulls_last=True), "occurred_at", "id")
        .values_list("pk", "twilio_id", "author__type", "offset_ms", "duration_ms", "text")
    )
    return [
        TranscriptLine(
            pk=pk,
            twilio_id=twilio_id,
            role=_ROLE.get(author_type or "", "other"),
            author_type=author_type,
            offset_ms=offset_ms,
            duration_ms=duration_ms,
            text=text,
        )
        for pk, twilio_id, author_type, offset_ms, duration_ms, text in rows
    ]


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


def results_for_conversation(*, conversation: Conversation) -> QuerySet[OperatorResult]:
    return (
        OperatorResult.objects.filter(conversation=conversation)
        .select_related("definition__operator", "execution__rule", "rubric_version__rubric")
        .order_by("date_created", "id")
    )


def active_rules(*, trigger_on: str) -> list[Rule]:
    return list(Rule.objects.filter(is_active=True, trigger_on=trigger_on).order_by("id"))


def conversations_of(*, user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.for_user(user)


# ---------------------------------------------------------------------------------------------
# The operator and rule pages and API
# ---------------------------------------------------------------------------------------------


def can_read(user: Any) -> bool:
    return can_use(user, "intelligence")


def can_manage(user: Any) -> bool:
    return can_use(user, "intelligence_manage")


def can_run(user: Any) -> bool:
    return can_use(user, "intelligence_run")


def operator_list(*, user: Any) -> QuerySet[Operator]:
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


def operator_get(*, user: Any, pk: int) -> Operator:
    operator = operator_list(user=user).filter(pk=pk).first()
    if operator is None:
        raise Http404("No such operator.")
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


def operator_result_count(*, user: Any, operator: Operator, since: datetime) -> int:
    """Results of the operator's versions since ``since``, in conversations ``user`` may see."""
    return (
        OperatorResult.objects.for_user(user)
        .filter(definition__operator=operator, created_at__gte=since)
        .count()
    )


def published_rubrics(*, user: Any) -> list[Any]:
    """Rubrics with a version in force (what Script Adherence may judge by), by name."""
    rubrics = rubrics_selectors.rubric_list(user=user)
    return [rubric for rubric in rubrics if getattr(rubric, "published_number", None)]


def rule_list(*, user: Any) -> QuerySet[Rule]:
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


def rule_get(*, user: Any, pk: int) -> Rule:
    rule = rule_list(user=user).filter(pk=pk).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


def execution_list(*, user: Any) -> QuerySet[RuleExecution]:
    """Executions on conversations ``user`` may see, newest first."""
    if not can_read(user):
        return RuleExecution.objects.none()
    return (
        RuleExecution.objects.filter(
            conversation__in=Conversation.objects.for_user(user).values("pk")
        )
        .select_related("rule", "requested_by")
        .order_by("-triggered_at", "-id")
    )


@dataclass
class RuleActivity:
    """What a rule did lately, in conversations the reader may see."""

    last_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)


def rule_activity(*, user: Any, rule_ids: list[int], since: datetime) -> dict[int, RuleActivity]:
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
