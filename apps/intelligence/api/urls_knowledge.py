"""API routes of Enterprise Knowledge (/api/knowledge/) and Conversation Memory
(/api/profiles/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import knowledge

router = SimpleRouter()
router.register("knowledge", knowledge.KnowledgeArticleViewSet, basename="api-knowledge")
router.register("profiles", knowledge.CustomerProfileViewSet, basename="api-profile")

urlpatterns = router.urls
