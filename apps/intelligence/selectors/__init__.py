"""Reads of the intelligence app, one module per concern; this package names the public ones.

- ``transcripts``: the transcript as operators read it.
- ``operators``: operator versions as specs, and the operator pages and API.
- ``rules``: what a rule runs, rules and executions for their pages and API.
- ``insights``: what the conversation's insights panel shows (results, flags), in one read.
- ``adherence``: the AI's outcome per rubric criterion, which a QA review form starts from.
- ``signals``: the AI's adherence score and the customer's sentiment as columns to filter by.
- ``flags``: open flags for the QA queue.
- ``live``: sentiment, adherence and flags of many conversations, for the supervisor floor.
- ``wrapup``: what the AI proposes for a call's wrap-up (summary, topic, outcome).
"""

from __future__ import annotations

from .adherence import (
    AdherenceSuggestion,
    CriterionSuggestion,
    EvidenceRef,
    adherence_outcomes,
    adherence_suggestion,
    review_rubric_version_id,
)
from .flags import FlagBrief, open_flags_brief
from .insights import (
    conversation_insights,
    open_flags,
    results_for_conversation,
)
from .live import FloorSignals, event_digest, floor_signals
from .operators import (
    can_manage,
    can_read,
    can_run,
    latest_version,
    operator_get,
    operator_list,
    operator_result_count,
    operator_spec,
    rules_using,
)
from .rules import (
    RuleActivity,
    active_rules,
    execution_list,
    published_rubrics,
    rule_activity,
    rule_get,
    rule_list,
    rule_specs,
)
from .signals import with_ai_adherence_score, with_customer_sentiment
from .transcripts import transcript_lines, transcript_lines_many
from .wrapup import WrapupProposal, summary_text, wrapup_proposal

__all__ = [
    "AdherenceSuggestion",
    "CriterionSuggestion",
    "EvidenceRef",
    "FlagBrief",
    "FloorSignals",
    "RuleActivity",
    "WrapupProposal",
    "active_rules",
    "adherence_outcomes",
    "adherence_suggestion",
    "can_manage",
    "can_read",
    "can_run",
    "conversation_insights",
    "event_digest",
    "execution_list",
    "floor_signals",
    "latest_version",
    "open_flags",
    "open_flags_brief",
    "operator_get",
    "operator_list",
    "operator_result_count",
    "operator_spec",
    "published_rubrics",
    "results_for_conversation",
    "review_rubric_version_id",
    "rule_activity",
    "rule_get",
    "rule_list",
    "rule_specs",
    "rules_using",
    "summary_text",
    "transcript_lines",
    "transcript_lines_many",
    "with_ai_adherence_score",
    "with_customer_sentiment",
    "wrapup_proposal",
]
