from __future__ import annotations

from django.urls import path

from .views import EventListView

urlpatterns = [path("events/", EventListView.as_view(), name="api-audit-events")]
