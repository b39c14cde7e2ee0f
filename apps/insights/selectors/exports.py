"""CSV: the rows of a table with fixed, documented columns, and one row per conversation.

Averages are derived from the period's sums, as on the pages. An empty cell means no data
(no closed conversation, nothing reviewed...), never 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from apps.common.spreadsheet import csv_lines  # noqa: F401 (exported: the dashboards' CSVs)

from ..models import ConversationFact
from .kpis import KPI_BY_KEY, kpi_estimate
from .tables import Table

# GET /api/insights/agents.csv: people plug this into spreadsheets, so its columns are fixed.
AGENT_COLUMNS = (
    "agent",
    "team",
    "conversations",
    "handle_seconds_avg",
    "first_response_seconds_avg",
    "customer_sentiment_delta_avg",
    "ai_adherence_score_avg",
    "qa_score_avg",
    "reviews",
    "critical_failed",
    "flags",
    "handoffs",
    # After the fixed ones: more that a spreadsheet may use.
    "containment_rate",
    "task_success_rate",
    "suggestion_closeness_avg",
    # The QA score's sample size and 95% interval (Student's t, from the rollups' sums and sums
    # of squares), and the critical failure rate with its Wilson interval: a spreadsheet can
    # tell an agent's 82 from 3 reviews from one from 40.
    "qa_score_n",
    "qa_score_low",
    "qa_score_high",
    "critical_failed_rate",
    "critical_failed_rate_low",
    "critical_failed_rate_high",
)
_MEANS = {
    "handle_seconds_avg": "handle",
    "first_response_seconds_avg": "first_response",
    "customer_sentiment_delta_avg": "sentiment_delta",
    "ai_adherence_score_avg": "adherence",
    "qa_score_avg": "qa_score",
    "containment_rate": "containment",
    "task_success_rate": "task_success",
    "suggestion_closeness_avg": "suggestion_closeness",
}
# column -> (figure, which part of its estimate)
_INTERVALS = {
    "qa_score_n": ("qa_score", "n"),
    "qa_score_low": ("qa_score", "low"),
    "qa_score_high": ("qa_score", "high"),
    "critical_failed_rate": ("critical_failed", "value"),
    "critical_failed_rate_low": ("critical_failed", "low"),
    "critical_failed_rate_high": ("critical_failed", "high"),
}
_COUNTS = {"conversations": "conversations", "reviews": "reviews", "flags": "flags",
           "critical_failed": "critical_failed", "handoffs": "handoffs"}  # fmt: skip


def _number(value: float | None, places: int = 3) -> str:
    if value is None:
        return ""
    rounded = round(value, places)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.{places}f}".rstrip("0")


def table_rows(table: Table, *, first: str) -> Iterator[list[str]]:
    """A breakdown table as CSV rows: the dimension's name, then ``AGENT_COLUMNS[2:]``; agents
    get their team; rows without a human agent are left out of the agent table."""
    header = [first, "team"] if table.by == "agent" else [first]
    yield header + list(AGENT_COLUMNS[2:])
    for row in table.rows:
        if table.by == "agent" and row.key is None:
            continue
        cells = [row.label, row.detail] if table.by == "agent" else [row.label]
        for column in AGENT_COLUMNS[2:]:
            if column in _MEANS:
                cells.append(_number(kpi_estimate(KPI_BY_KEY[_MEANS[column]], row.sums).value))
            elif column in _INTERVALS:
                key, part = _INTERVALS[column]
                cells.append(_number(getattr(kpi_estimate(KPI_BY_KEY[key], row.sums), part)))
            else:
                cells.append(_number(row.sums.get(_COUNTS[column]) or 0))
        yield cells


FACT_COLUMNS = (
    "conversation_id", "twilio_id", "day", "started_at", "ended_at", "closed", "team", "agent",
    "queue", "channel", "mix", "communications", "handle_seconds", "first_response_seconds",
    "ai_first_word_seconds", "sentiment_start", "sentiment_end", "sentiment_delta",
    "sentiment_label", "ai_adherence_score", "qa_score", "qa_revision", "reviews",
    "critical_failed", "flags", "handoff", "handoff_reason", "contained", "disputes",
    "disputes_open", "disputes_accepted", "disputes_rejected", "topic", "outcome",
    "task_success", "wrapup_edit", "suggestions", "suggestion_closeness_avg",
    "suggestions_followed",
)  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value, 4)
    return str(value)


def fact_rows(facts: QuerySet[ConversationFact]) -> Iterator[list[str]]:
    """One row per conversation (streamed in chunks)."""
    yield list(FACT_COLUMNS)
    for fact in facts.iterator(chunk_size=2000):
        closeness = fact.suggestion_closeness_sum / fact.suggestions if fact.suggestions else None
        values = {
            "conversation_id": fact.conversation_id,
            "twilio_id": fact.conversation.twilio_id,
            "team": fact.team.name if fact.team else "",
            "agent": fact.agent.display_name if fact.agent else "",
            "suggestion_closeness_avg": closeness,
            "started_at": fact.started_at.isoformat(),
            "ended_at": fact.ended_at.isoformat() if fact.ended_at else None,
        }
        yield [_cell(values[c] if c in values else getattr(fact, c)) for c in FACT_COLUMNS]
