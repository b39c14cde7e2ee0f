"""Reads of the QA app, one module per concern; this package names the public ones.

- ``queue``: queue items and the tab counts.
- ``reviews``: reviews, an agent's own, score trends, disputes.
- ``review_page``: everything the review page shows, in one read.
- ``policies``: sampling policies.
- ``sampling_calculator``: reviews per agent for a wanted precision (the policy form).
"""

from __future__ import annotations

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
    reviews_of_conversation,
    score_summary,
    score_trend,
)
from .sampling_calculator import SamplingBasis, SamplingFigures, sampling_basis, sampling_figures

__all__ = [
    "OUTCOME_LABELS",
    "SORTS",
    "TABS",
    "Preview",
    "PreviewRow",
    "QueueCounts",
    "ReviewPage",
    "SamplingBasis",
    "SamplingFigures",
    "TrendPoint",
    "can_manage_policies",
    "can_see_everything",
    "dispute_get",
    "dispute_list",
    "item_base",
    "item_get",
    "item_list",
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
    "reviews_of_conversation",
    "sampling_basis",
    "sampling_figures",
    "score_summary",
    "score_trend",
]
