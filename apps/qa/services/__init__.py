"""Writes of the QA app, one module per concern; this package names the public ones.

- ``queue``: items in (flags, by hand), claimed, put back, reassigned, removed, done.
- ``sampling``: sampling policies, their preview and runs.
- ``reviews``: reviews from start to acknowledgement, and their revisions.
- ``disputes``: agents' disputes and their decisions.
- ``reviewers``: who may review a conversation; spreading picks over reviewers.
- ``notify``: what the workflow tells people under the bell.
- ``impact``: rubric impact previews (a draft re-scoring stored conversations).
"""

from __future__ import annotations

from .disputes import dispute_deadline, dispute_decide, dispute_open, may_decide
from .impact import impact_preview_run, impact_preview_start, is_stale, structure_hash
from .queue import (
    flag_source_key,
    queue_claim_next,
    queue_flags_sweep,
    queue_item_add,
    queue_item_claim,
    queue_item_for_flag,
    queue_item_reassign,
    queue_item_remove,
    queue_item_send,
    queue_item_unclaim,
)
from .reviewers import may_review, spread_evenly
from .reviews import (
    NoRubric,
    ai_outcomes,
    current_revision,
    draft_answers,
    review_acknowledge,
    review_draft_save,
    review_keys,
    review_release,
    review_revise,
    review_start,
    review_structure,
    review_submit,
    reviews_release_due,
    revision_answers,
)
from .sampling import (
    PREVIEW_LIMIT,
    Picking,
    PolicySpec,
    RunResult,
    cron_parts,
    filters_text,
    next_run,
    period_window,
    policies_run_due,
    policy_create,
    policy_delete,
    policy_pick,
    policy_run,
    policy_spec_clean,
    policy_update,
    reason_for,
    spec_of,
)

__all__ = [
    "PREVIEW_LIMIT",
    "NoRubric",
    "Picking",
    "PolicySpec",
    "RunResult",
    "ai_outcomes",
    "cron_parts",
    "current_revision",
    "dispute_deadline",
    "dispute_decide",
    "dispute_open",
    "draft_answers",
    "filters_text",
    "flag_source_key",
    "impact_preview_run",
    "impact_preview_start",
    "is_stale",
    "may_decide",
    "may_review",
    "next_run",
    "period_window",
    "policies_run_due",
    "policy_create",
    "policy_delete",
    "policy_pick",
    "policy_run",
    "policy_spec_clean",
    "policy_update",
    "queue_claim_next",
    "queue_flags_sweep",
    "queue_item_add",
    "queue_item_claim",
    "queue_item_for_flag",
    "queue_item_reassign",
    "queue_item_remove",
    "queue_item_send",
    "queue_item_unclaim",
    "reason_for",
    "review_acknowledge",
    "review_draft_save",
    "review_keys",
    "review_release",
    "review_revise",
    "review_start",
    "review_structure",
    "review_submit",
    "reviews_release_due",
    "revision_answers",
    "spec_of",
    "spread_evenly",
    "structure_hash",
]
