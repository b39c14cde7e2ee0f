"""API routes of Enterprise Knowledge (/api/knowledge/) and Conversation Memory
(/api/profiles/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("knowledge", views.KnowledgeArticleViewSet, basename="api-knowledge")
router.register("profiles", views.CustomerProfileViewSet, basename="api-profile")

urlpatterns = router.urls
