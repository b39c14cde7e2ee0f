"""All API routes under /api/; each app contributes its router."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("apps.conversations.api.urls")),
    path("", include("apps.rubrics.api.urls")),
    path("", include("apps.intelligence.api.urls")),
    path("", include("apps.knowledge.api.urls")),
    path("", include("apps.qa.api.urls")),
    path("", include("apps.insights.api.urls")),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.live.api")),
    path("", include("apps.wrapup.api.views")),
    path("", include("apps.floor.api")),
    path("", include("apps.privacy.api")),
    path("coaching/", include("apps.coaching.api.urls")),
    path("audit/", include("apps.audit.api.urls")),
]
