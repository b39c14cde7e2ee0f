"""Insights' reads: filters and scope, key figures, tables, drill-down, exports."""

from __future__ import annotations

from .drilldown import FactPage, drilldown_facts, facts_page, predicates_of, predicates_q
from .exports import AGENT_COLUMNS, FACT_COLUMNS, csv_lines, fact_rows, table_rows
from .filters import InsightFilters, Period, filters_parse, filters_q, scope_q
from .kpis import (
    KPI_BY_KEY,
    KPIS,
    Kpi,
    KpiValue,
    Overview,
    daily_sums,
    kpi_estimate,
    overview,
)
from .tables import (
    DIMENSIONS,
    CriterionRow,
    Heatmap,
    LabelRow,
    Table,
    breakdown,
    criteria,
    criterion_counts,
    criterion_name,
    heatmap,
    labels,
    series,
)
from .virtual_agent import (
    VA_KPI_KEYS,
    Latency,
    ReasonRow,
    VirtualAgentLatency,
    va_latency,
    va_reasons,
)

__all__ = [
    "AGENT_COLUMNS",
    "DIMENSIONS",
    "FACT_COLUMNS",
    "KPIS",
    "KPI_BY_KEY",
    "VA_KPI_KEYS",
    "CriterionRow",
    "FactPage",
    "Heatmap",
    "InsightFilters",
    "Kpi",
    "KpiValue",
    "LabelRow",
    "Latency",
    "Overview",
    "Period",
    "ReasonRow",
    "Table",
    "VirtualAgentLatency",
    "breakdown",
    "criteria",
    "criterion_counts",
    "criterion_name",
    "csv_lines",
    "daily_sums",
    "drilldown_facts",
    "fact_rows",
    "facts_page",
    "filters_parse",
    "filters_q",
    "heatmap",
    "kpi_estimate",
    "labels",
    "overview",
    "predicates_of",
    "predicates_q",
    "scope_q",
    "series",
    "table_rows",
    "va_latency",
    "va_reasons",
]
