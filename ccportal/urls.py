from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.common.views import health

urlpatterns = [
    path("", include("apps.conversations.urls")),
    path("rubrics/", include("apps.rubrics.urls")),
    path("intelligence/", include("apps.intelligence.urls")),
    path("intelligence/", include("apps.knowledge.urls")),
    path("qa/", include("apps.qa.urls")),
    path("insights/", include("apps.insights.urls")),
    path("notifications/", include("apps.accounts.urls")),
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
    path("conversations/", include("apps.wrapup.urls")),
    path("live/", include("apps.floor.urls")),
    path("coaching/", include("apps.coaching.urls")),
    path("audit/", include("apps.audit.urls")),
    path("api/", include("ccportal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
