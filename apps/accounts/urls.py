from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/menu/", views.notification_menu, name="notification-menu"),
    path("notifications/read/", views.notification_read, name="notification-read"),
    path("account/tokens/", views.api_token_list, name="api-tokens"),
    path("account/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api-token-revoke"),
]
