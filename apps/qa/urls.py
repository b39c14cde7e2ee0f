from __future__ import annotations

from django.urls import path

from . import views, views_impact

urlpatterns = [
    path("", views.queue, name="qa-queue"),
    path("claim-next/", views.claim_next, name="qa-claim-next"),
    path("items/<int:pk>/", views.item_detail, name="qa-item"),
    path("items/<int:pk>/claim/", views.item_claim, name="qa-item-claim"),
    path("items/<int:pk>/unclaim/", views.item_unclaim, name="qa-item-unclaim"),
    path("items/<int:pk>/reassign/", views.item_reassign, name="qa-item-reassign"),
    path("items/<int:pk>/remove/", views.item_remove, name="qa-item-remove"),
    path("send/<int:conversation_pk>/", views.send_to_qa, name="qa-send"),
    path("reviews/", views.review_list, name="qa-reviews"),
    path("reviews/mine/", views.my_reviews, name="qa-my-reviews"),
    path("reviews/<int:pk>/", views.review_detail, name="qa-review"),
    path("reviews/<int:pk>/draft/", views.review_draft, name="qa-review-draft"),
    path("reviews/<int:pk>/submit/", views.review_submit, name="qa-review-submit"),
    path("reviews/<int:pk>/revise/", views.review_revise, name="qa-review-revise"),
    path("reviews/<int:pk>/release/", views.review_release, name="qa-review-release"),
    path("reviews/<int:pk>/acknowledge/", views.review_acknowledge, name="qa-review-acknowledge"),
    path("reviews/<int:pk>/dispute/", views.dispute_open, name="qa-dispute-open"),
    path("disputes/", views.dispute_list, name="qa-disputes"),
    path("disputes/<int:pk>/decide/", views.dispute_decide, name="qa-dispute-decide"),
    path("policies/", views.policy_list, name="qa-policies"),
    path("policies/new/", views.policy_create, name="qa-policy-create"),
    path("policies/<int:pk>/", views.policy_detail, name="qa-policy"),
    path("policies/<int:pk>/edit/", views.policy_edit, name="qa-policy-edit"),
    path("policies/<int:pk>/run/", views.policy_run, name="qa-policy-run"),
    path("policies/<int:pk>/delete/", views.policy_delete, name="qa-policy-delete"),
    path("stats/", views.stats_page, name="qa-stats"),
    path(
        "stats/versions/<int:version_pk>/fragment/",
        views.stats_fragment,
        name="qa-stats-fragment",
    ),
    path(
        "stats/versions/<int:version_pk>/criteria/<slug:key>/disagreements/",
        views.stats_disagreements,
        name="qa-stats-disagreements",
    ),
    path("calibration/", views.calibration_list, name="qa-calibration-list"),
    path("calibration/new/", views.calibration_create, name="qa-calibration-create"),
    path("calibration/<int:pk>/", views.calibration_detail, name="qa-calibration"),
    path("calibration/<int:pk>/close/", views.calibration_close, name="qa-calibration-close"),
    path(
        "calibration/<int:pk>/benchmark/",
        views.calibration_benchmark,
        name="qa-calibration-benchmark",
    ),
    path("impact/", views_impact.impact_list, name="qa-impact-list"),
    path("impact/<int:pk>/", views_impact.impact_detail, name="qa-impact"),
    path("impact/start/<int:version_pk>/", views_impact.impact_start, name="qa-impact-start"),
]
