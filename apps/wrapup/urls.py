from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>/wrapup/", views.wrapup_save, name="wrapup-save"),
]
