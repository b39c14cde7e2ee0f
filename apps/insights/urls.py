from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.overview, name="insights-overview"),
    path("teams/", views.table, {"by": "team"}, name="insights-teams"),
    path("agents/", views.table, {"by": "agent"}, name="insights-agents"),
    path("queues/", views.table, {"by": "queue"}, name="insights-queues"),
    path("channels/", views.table, {"by": "channel"}, name="insights-channels"),
    path("criteria/", views.criteria, name="insights-criteria"),
    path("ai/", views.ai_agent, name="insights-ai"),
    path("trends/", views.trends, name="insights-trends"),
    path("conversations/", views.conversations, name="insights-conversations"),
]
