from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from apps.common.views import health


def _redoc_policy(view: Callable[..., Any]) -> Callable[..., Any]:
    """Redoc's bundle injects <style> elements (styled-components, which cannot be given a nonce
    from outside the bundle) and runs its search in a worker made from a blob: URL. On that page
    alone inline styles and blob: workers are allowed; scripts stay 'self' (docs/security.md)."""
    report_only = bool(getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None))
    relaxed = {"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]}
    return csp_update(relaxed, REPORT_ONLY=report_only)(view)


urlpatterns = [
    path("", include("apps.conversations.urls")),
    path("rubrics/", include("apps.rubrics.urls")),
    path("intelligence/", include("apps.intelligence.urls")),
    path("intelligence/", include("apps.knowledge.urls")),
    path("qa/", include("apps.qa.urls")),
    path("insights/", include("apps.insights.urls")),
    path("", include("apps.accounts.urls")),  # notifications/, account/
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    path("webhooks/twilio/", include("apps.webhooks.urls")),
    path("handoffs/", include("apps.relay.urls")),
    path("agent/", include("apps.agent.urls")),
    path("conversations/", include("apps.wrapup.urls")),
    path("live/", include("apps.floor.urls")),
    path("coaching/", include("apps.coaching.urls")),
    path("privacy/", include("apps.privacy.urls")),
    path("audit/", include("apps.audit.urls")),
    path("api/", include("ccportal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's setup script as a request of its own (no inline script).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        _redoc_policy(
            SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")
        ),
        name="api-redoc",
    ),
]
