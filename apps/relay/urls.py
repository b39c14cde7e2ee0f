from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>/", views.handoff_detail, name="handoff-detail"),
]
