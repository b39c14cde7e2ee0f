from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.floor_page, name="live-floor"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="floor-alert-ack"),
    path("conversations/<int:pk>/tips/", views.tip_send, name="floor-tip"),
]
