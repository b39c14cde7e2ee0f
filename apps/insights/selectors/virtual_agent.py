"""The reference virtual agent's scoreboard over a period: its rates and counts come from the
rollups (``kpis``: containment, virtual agent task success, interruptions recovered,
abandoned), its latency percentiles and handoff reasons from the facts, because percentiles do
not add across buckets (``docs/insights.md``). Two queries here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, QuerySet

from apps.agent.choices import HandoffReason

from ..models import ConversationFact
from .filters import InsightFilters, filters_q, scope_q

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


# The scoreboard's rates and counts (``kpis.KPIS``), in the order pages and the API show them.
VA_KPI_KEYS = ("va_containment", "va_task_success", "va_recovery", "va_abandoned")


@dataclass(frozen=True)
class Latency:
    """Per caller turn, nearest-rank percentiles (as the conversation page's panel)."""

    n: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def few(self) -> bool:
        return self.n < settings.INSIGHTS_MIN_N


@dataclass(frozen=True)
class ReasonRow:
    code: str
    label: str
    conversations: int
    share: float  # of the handed-off conversations


@dataclass(frozen=True)
class VirtualAgentLatency:
    first_token: Latency
    first_helpful: Latency


def _va_facts(user: Person, filters: InsightFilters) -> QuerySet[ConversationFact]:
    return (
        ConversationFact.objects.filter(scope_q(user))
        .filter(filters_q(filters))
        .exclude(va_outcome="")
    )


_PERCENTILES = """
WITH picked AS ({facts})
SELECT 'token', count(v), percentile_disc(0.5) WITHIN GROUP (ORDER BY v),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY v)
FROM picked CROSS JOIN LATERAL unnest(picked.va_first_token_ms) v
UNION ALL
SELECT 'helpful', count(v), percentile_disc(0.5) WITHIN GROUP (ORDER BY v),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY v)
FROM picked CROSS JOIN LATERAL unnest(picked.va_first_helpful_ms) v
"""


def va_latency(*, user: Person, filters: InsightFilters) -> VirtualAgentLatency:
    """Time to first token and to the first helpful token over every caller turn of the
    user's conversations in the period (p50 and p95, nearest rank: ``percentile_disc``)."""
    facts = _va_facts(user, filters).values("va_first_token_ms", "va_first_helpful_ms")
    empty = Latency(0, None, None)
    try:
        inner, params = facts.query.sql_with_params()
    except EmptyResultSet:  # a scope or filter that selects nothing
        return VirtualAgentLatency(empty, empty)
    with connection.cursor() as cursor:
        cursor.execute(_PERCENTILES.format(facts=inner), params)
        found = {row[0]: Latency(int(row[1]), row[2], row[3]) for row in cursor.fetchall()}
    return VirtualAgentLatency(found.get("token", empty), found.get("helpful", empty))


def va_reasons(*, user: Person, filters: InsightFilters) -> list[ReasonRow]:
    """The virtual agent's handoffs by reason code, most frequent first."""
    rows = list(
        _va_facts(user, filters)
        .filter(va_outcome="handed_off")
        .values("va_handoff_code")
        .annotate(n=Count("pk"))
        .order_by("-n", "va_handoff_code")
    )
    total = sum(row["n"] for row in rows) or 1
    labels = dict(HandoffReason.choices)
    return [
        ReasonRow(
            code=row["va_handoff_code"],
            label=str(labels.get(row["va_handoff_code"], row["va_handoff_code"] or "No reason")),
            conversations=row["n"],
            share=row["n"] / total,
        )
        for row in rows
    ]
