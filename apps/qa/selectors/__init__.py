"""Reads of the QA app, one module per concern; this package names the public ones.

- ``queue``: queue items and the tab counts.
- ``reviews``: reviews, an agent's own, score trends, disputes.
- ``review_page``: everything the review page shows, in one read.
- ``policies``: sampling policies.
- ``agreement``: the AI as a rater: agreement per criterion, tiers, where it disagreed.
- ``ai_scores``: the AI score (auto-QA), apart from people's review scores.
- ``sampling_calculator``: reviews per agent for a wanted precision (the policy form).
- ``impact``: rubric impact previews and their rows.
"""

from __future__ import annotations

from .agreement import (
    CriterionAgreement,
    VersionAgreement,
    disagreements,
    trust_changes,
    version_agreement,
)
from .ai_scores import (
    AiScoreSummary,
    MeanScore,
    ai_score_list,
    ai_score_of,
    ai_score_summary,
)
from .impact import (
    RowFilters,
    can_preview_impact,
    impact_preview_get,
    impact_preview_list,
    impact_row_list,
    stored_human_answers,
)
from .policies import (
    Preview,
    PreviewRow,
    can_manage_policies,
    policy_get,
    policy_list,
    policy_preview,
)
from .queue import (
    SORTS,
    TABS,
    QueueCounts,
    can_see_everything,
    item_base,
    item_get,
    item_list,
    item_rows,
    items_of_conversation,
    queue_counts,
)
from .review_page import OUTCOME_LABELS, ReviewPage, review_page
from .reviews import (
    TrendPoint,
    dispute_get,
    dispute_list,
    my_reviews,
    review_base,
    review_get,
    review_list,
    review_rows,
    review_scope,
    reviews_of_conversation,
    score_summary,
    score_trend,
)
from .sampling_calculator import SamplingBasis, SamplingFigures, sampling_basis, sampling_figures
from .work import usual_work

__all__ = [
    "OUTCOME_LABELS",
    "SORTS",
    "TABS",
    "AiScoreSummary",
    "CriterionAgreement",
    "MeanScore",
    "Preview",
    "PreviewRow",
    "QueueCounts",
    "ReviewPage",
    "RowFilters",
    "SamplingBasis",
    "SamplingFigures",
    "TrendPoint",
    "VersionAgreement",
    "ai_score_list",
    "ai_score_of",
    "ai_score_summary",
    "can_manage_policies",
    "can_preview_impact",
    "can_see_everything",
    "disagreements",
    "dispute_get",
    "dispute_list",
    "impact_preview_get",
    "impact_preview_list",
    "impact_row_list",
    "item_base",
    "item_get",
    "item_list",
    "item_rows",
    "items_of_conversation",
    "my_reviews",
    "policy_get",
    "policy_list",
    "policy_preview",
    "queue_counts",
    "review_base",
    "review_get",
    "review_list",
    "review_page",
    "review_rows",
    "review_scope",
    "reviews_of_conversation",
    "sampling_basis",
    "sampling_figures",
    "score_summary",
    "score_trend",
    "stored_human_answers",
    "trust_changes",
    "usual_work",
    "version_agreement",
]
