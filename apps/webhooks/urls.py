from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("orchestrator", views.orchestrator_events, name="webhook-orchestrator"),
    path("intelligence", views.intelligence_results, name="webhook-intelligence"),
    path("relay-action", views.relay_action, name="webhook-relay-action"),
    path("voice-status", views.voice_status, name="webhook-voice-status"),
]
