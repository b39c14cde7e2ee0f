"""API routes of the QA workflow (/api/qa/...)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import impact, views

router = SimpleRouter()
router.register("qa/items", views.QueueItemViewSet, basename="api-qa-item")
router.register("qa/policies", views.SamplingPolicyViewSet, basename="api-qa-policy")
router.register("qa/reviews", views.ReviewViewSet, basename="api-qa-review")
router.register("qa/disputes", views.DisputeViewSet, basename="api-qa-dispute")
router.register("qa/impact", impact.ImpactPreviewViewSet, basename="api-qa-impact")

urlpatterns = router.urls
