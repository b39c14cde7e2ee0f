from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("incoming-call", views.incoming_call, name="agent-incoming-call"),
]
