"""API routes of the QA workflow (/api/qa/...)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import impact, views
from .calibration import CalibrationSessionViewSet

router = SimpleRouter()
router.register("qa/items", views.QueueItemViewSet, basename="api-qa-item")
router.register("qa/policies", views.SamplingPolicyViewSet, basename="api-qa-policy")
router.register("qa/reviews", views.ReviewViewSet, basename="api-qa-review")
router.register("qa/calibration", CalibrationSessionViewSet, basename="api-qa-calibration")
router.register("qa/disputes", views.DisputeViewSet, basename="api-qa-dispute")
router.register("qa/impact", impact.ImpactPreviewViewSet, basename="api-qa-impact")

urlpatterns = [
    path("qa/stats/agreement/", views.AgreementView.as_view(), name="api-qa-stats-agreement"),
    path(
        "qa/stats/disagreements/",
        views.DisagreementsView.as_view(),
        name="api-qa-stats-disagreements",
    ),
    path("qa/stats/trust/", views.TrustView.as_view(), name="api-qa-stats-trust"),
    path("qa/stats/ai-scores/", views.AiScoresView.as_view(), name="api-qa-stats-ai-scores"),
    path(
        "qa/sampling-calculator/",
        views.SamplingCalculatorView.as_view(),
        name="api-qa-sampling-calculator",
    ),
    *router.urls,
]
