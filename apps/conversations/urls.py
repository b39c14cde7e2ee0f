from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("conversations/", views.conversation_list, name="conversation-list"),
    path("conversations/<int:pk>/", views.conversation_detail, name="conversation-detail"),
    path("assist/<str:call_sid>/", views.conversation_assist, name="conversation-assist"),
    path(
        "conversations/<int:pk>/access-reason/",
        views.conversation_access_reason,
        name="conversation-access-reason",
    ),
    path(
        "conversations/<int:pk>/sensitive/",
        views.conversation_sensitive,
        name="conversation-sensitive",
    ),
    path("admin-tools/access-log/", views.access_log, name="access-log"),
    path("admin-tools/access-log/export.csv", views.access_log_csv, name="access-log-csv"),
]
