"""The conversations behind a number: the facts that a card, a table cell, a bar or a heatmap
cell counted, selected by the same filters plus the predicates of that number.

Predicates (query parameters, each optional):

* ``has``: handle, first_response, qa_score, adherence, sentiment, outcome, ai_first_word,
  suggestions: the figure exists for the conversation (a mean's n).
* ``mix``: human, ai, handoff, none, or ai_any (an AI agent took part).
* ``contained``: yes, no, any (decided: AI agent, closed); ``handoff``, ``critical``,
  ``flagged``, ``success``: yes or no; ``disputed``: yes, open, accepted, rejected.
* ``topic``, ``outcome``, ``reason`` (a handoff's), ``suggestion`` (an operator version).
* The virtual agent's: ``has`` va (a session), va_interruptions, va_task (task success
  decided), va_turns (a timed turn); ``va_outcome`` (contained, handed_off, abandoned, failed,
  in_progress), ``va_reason`` (a handoff reason code), ``va_success``: yes or no.
* ``criterion`` with ``source`` (AI or HUMAN) and ``result``: MET, NOT_MET, NA, or judged
  (met or not met: a pass rate's n).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.lookups import In

from apps.common.errors import ValidationFailed

from ..choices import CriterionSource, Mix
from ..models import ConversationFact, SuggestionScore
from .filters import InsightFilters, filters_q, scope_q, text

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

HAS = {
    "handle": "handle_seconds",
    "first_response": "first_response_seconds",
    "qa_score": "qa_score",
    "adherence": "ai_adherence_score",
    "sentiment": "sentiment_delta",
    "outcome": "task_success",
    "ai_first_word": "ai_first_word_seconds",
}
MIXES = {"human": [Mix.HUMAN], "ai": [Mix.AI], "handoff": [Mix.HANDOFF], "none": [Mix.NONE]}
YES_NO = {"yes": True, "no": False}
PREDICATES = (
    "has", "mix", "contained", "handoff", "critical", "flagged", "success", "disputed", "topic",
    "outcome", "reason", "suggestion", "criterion", "source", "result", "va_outcome", "va_reason",
    "va_success",
)  # fmt: skip
# ``has`` values that are not "the column is not null".
HAS_WHERE = {
    "suggestions": Q(suggestions__gt=0),
    "va": ~Q(va_outcome=""),
    "va_interruptions": Q(va_interruptions__gt=0),
    "va_task": Q(va_task_success__isnull=False),
    "va_turns": ~Q(va_first_token_ms=[]),
}
PAGE_SIZE = 50
_YES_NO_PREDICATES = (
    ("handoff", Q(handoff=True), Q(handoff=False)),
    ("critical", Q(critical_failed=True), Q(critical_failed=False)),
    ("success", Q(task_success=True), Q(task_success=False)),
    ("flagged", Q(flags__gt=0), Q(flags=0)),
    ("va_success", Q(va_task_success=True), Q(va_task_success=False)),
)


def predicates_of(data: Mapping[str, Any]) -> dict[str, str]:
    """The drill-down predicates present in query parameters (others are filters or ignored)."""
    return {k: text(data.get(k))[:200] for k in PREDICATES if text(data.get(k) or "").strip()}


def _yes_no(name: str, value: str, errors: dict[str, list[str]]) -> bool | None:
    if value.lower() in YES_NO:
        return YES_NO[value.lower()]
    errors[name] = [f"Use yes or no for {name}."]
    return None


def predicates_q(predicates: Mapping[str, str]) -> Q:
    """The predicates as a condition on facts; ``ValidationFailed`` for unknown values."""
    errors: dict[str, list[str]] = {}
    q = Q()
    if has := predicates.get("has"):
        if has in HAS_WHERE:
            q &= HAS_WHERE[has]
        elif has in HAS:
            q &= Q(**{f"{HAS[has]}__isnull": False})
        else:
            errors["has"] = [f"Unknown figure “{has}”."]
    if mix := predicates.get("mix"):
        if mix == "ai_any":
            q &= Q(mix__in=[Mix.AI, Mix.HANDOFF])
        elif mix in MIXES:
            q &= Q(mix__in=MIXES[mix])
        else:
            errors["mix"] = ["Use human, ai, handoff, none or ai_any."]
    if contained := predicates.get("contained"):
        if contained == "any":
            q &= Q(contained__isnull=False)
        elif (value := _yes_no("contained", contained, errors)) is not None:
            q &= Q(contained=value)
    for name, when_yes, when_no in _YES_NO_PREDICATES:
        raw = predicates.get(name)
        value = _yes_no(name, raw, errors) if raw else None
        if value is not None:
            q &= when_yes if value else when_no
    if disputed := predicates.get("disputed"):
        field = {
            "yes": "disputes",
            "open": "disputes_open",
            "accepted": "disputes_accepted",
            "rejected": "disputes_rejected",
        }.get(disputed)
        if field:
            q &= Q(**{f"{field}__gt": 0})
        else:
            errors["disputed"] = ["Use yes, open, accepted or rejected."]
    for name, field in (
        ("topic", "topic"),
        ("outcome", "outcome"),
        ("reason", "handoff_reason"),
        ("va_outcome", "va_outcome"),
        ("va_reason", "va_handoff_code"),
    ):
        if name in predicates:
            q &= Q(**{field: predicates[name]})
            if name == "reason":
                q &= Q(handoff=True)
    if suggestion := predicates.get("suggestion"):
        q &= Q(
            Exists(
                SuggestionScore.objects.filter(
                    conversation_id=OuterRef("conversation_id"), operator=suggestion
                )
            )
        )
    if criterion := predicates.get("criterion"):
        source = predicates.get("source", CriterionSource.HUMAN)
        result = predicates.get("result", "judged")
        if source not in CriterionSource.values:
            errors["source"] = ["Use AI or HUMAN."]
        outcomes = {"judged": ["MET", "NOT_MET"], "MET": ["MET"], "NOT_MET": ["NOT_MET"]}.get(
            result, ["NA"] if result == "NA" else None
        )
        if outcomes is None:
            errors["result"] = ["Use MET, NOT_MET, NA or judged."]
        else:
            field = "ai_criteria" if source == CriterionSource.AI else "human_criteria"
            # A function, not KeyTextTransform: that reads a key like "0" as an array index.
            outcome = Func(
                F(field),
                Value(criterion),
                function="jsonb_extract_path_text",
                output_field=TextField(),
            )
            q &= Q(In(outcome, outcomes))
    if errors:
        raise ValidationFailed(errors)
    return q


def drilldown_facts(
    *, user: Person, filters: InsightFilters, predicates: Mapping[str, str]
) -> QuerySet[ConversationFact]:
    """The user's facts that the filters and predicates select, newest first."""
    return (
        ConversationFact.objects.filter(scope_q(user))
        .filter(filters_q(filters))
        .filter(predicates_q(predicates))
        .select_related("conversation", "agent", "team")
        .order_by("-started_at", "-conversation_id")
    )


@dataclass(frozen=True)
class FactPage:
    rows: list[ConversationFact]
    next_cursor: str  # "" on the last page
    count: int
    more: bool  # the count stopped at the cap


def cursor_of(fact: ConversationFact) -> str:
    return f"{fact.started_at.isoformat()}_{fact.conversation_id}"


def facts_page(
    facts: QuerySet[ConversationFact], *, after: str = "", size: int = PAGE_SIZE
) -> FactPage:
    """One page by keyset (``after`` is the last row's cursor): fast on any page, stable while
    facts change."""
    from apps.common.pagination import capped_count

    count, more = capped_count(facts)
    page = facts
    if after:
        stamp, _, pk = after.rpartition("_")
        try:
            at = datetime.fromisoformat(stamp)
            last = int(pk)
        except ValueError as exc:
            raise ValidationFailed({"after": ["This page link is broken; start again."]}) from exc
        page = facts.filter(Q(started_at__lt=at) | Q(started_at=at, conversation_id__lt=last))
    rows = list(page[: size + 1])
    next_cursor = cursor_of(rows[size - 1]) if len(rows) > size else ""
    return FactPage(rows[:size], next_cursor, count, more)
