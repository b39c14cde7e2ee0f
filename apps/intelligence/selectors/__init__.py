"""Reads of the intelligence app, one module per concern; this package names the public ones.

- ``transcripts``: the transcript as operators read it.
- ``operators``: operator versions as specs, and the operator pages and API.
- ``rules``: what a rule runs, rules and executions for their pages and API.
- ``insights``: what the conversation's insights panel shows (results, flags), in one read.
"""

from __future__ import annotations

from .insights import (
    conversation_insights,
    open_flags,
    results_for_conversation,
)
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
from .transcripts import transcript_lines

__all__ = [
    "RuleActivity",
    "active_rules",
    "can_manage",
    "can_read",
    "can_run",
    "conversation_insights",
    "execution_list",
    "latest_version",
    "open_flags",
    "operator_get",
    "operator_list",
    "operator_result_count",
    "operator_spec",
    "published_rubrics",
    "results_for_conversation",
    "rule_activity",
    "rule_get",
    "rule_list",
    "rule_specs",
    "rules_using",
    "transcript_lines",
]
