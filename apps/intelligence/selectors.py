"""Reads of the intelligence app: what operators see, and what pages and the API show."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, Max, QuerySet

from apps.conversations.models import Communication, Conversation, Participant
from apps.rubrics.checks import agent_type_of

from .models import (
    CustomerProfile,
    KnowledgeArticle,
    Observation,
    Operator,
    OperatorResult,
    OperatorVersion,
    Rule,
    RuleExecution,
)
from .operators.base import KnowledgeHit, OperatorSpec, TranscriptLine

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


def conversation_agent_type(*, conversation_id: int) -> str | None:
    types = Participant.objects.filter(conversation_id=conversation_id).values_list(
        "type", flat=True
    )
    return agent_type_of(types)


def knowledge_search(
    query: str, limit: int = 5, *, published_only: bool = True
) -> list[KnowledgeHit]:
    """Articles ranked by PostgreSQL full-text search; any of the query's words may match."""
    words = sorted(set(_WORD.findall(query.lower())))
    if not words:
        return []
    search = SearchQuery(" | ".join(words), search_type="raw", config="english")
    articles = KnowledgeArticle.objects.filter(search_vector=search)
    if published_only:
        articles = articles.filter(is_published=True)
    ranked = articles.annotate(rank=SearchRank(F("search_vector"), search)).order_by("-rank", "id")[
        :limit
    ]
    return [
        KnowledgeHit(id=a.pk, title=a.title, body=a.body, rank=float(a.rank), tags=tuple(a.tags))
        for a in ranked
    ]


def knowledge_list(*, query: str = "", tag: str = "") -> QuerySet[KnowledgeArticle]:
    articles = KnowledgeArticle.objects.all()
    if tag:
        articles = articles.filter(tags__contains=[tag])
    if query.strip():
        words = sorted(set(_WORD.findall(query.lower())))
        if words:
            search = SearchQuery(" & ".join(words), search_type="raw", config="english")
            articles = (
                articles.filter(search_vector=search)
                .annotate(rank=SearchRank(F("search_vector"), search))
                .order_by("-rank", "title", "id")
            )
    return articles


def profiles_for_conversation(*, conversation_id: int) -> QuerySet[CustomerProfile]:
    return CustomerProfile.objects.filter(conversations__id=conversation_id)


def memory_for_conversation(*, conversation_id: int, limit: int = 20) -> list[str]:
    """Observations about the conversation's customer(s), newest first."""
    return list(
        Observation.objects.filter(profile__conversations__id=conversation_id)
        .order_by("-created_at", "-id")
        .values_list("text", flat=True)[:limit]
    )


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


def previous_through(*, execution: RuleExecution) -> int | None:
    """The newest communication an earlier execution of the same rule already covered."""
    earlier = RuleExecution.objects.filter(
        rule_id=execution.rule_id, conversation_id=execution.conversation_id
    ).exclude(pk=execution.pk)
    if execution.through_communication_id is not None:
        earlier = earlier.filter(through_communication_id__lt=execution.through_communication_id)
    return earlier.aggregate(value=Max("through_communication_id"))["value"]


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
