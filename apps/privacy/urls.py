from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.retention, name="privacy-retention"),
    path("erasures/", views.erasure_list, name="privacy-erasures"),
    path("erasures/<int:pk>/", views.erasure_detail, name="privacy-erasure-detail"),
    path("erasures/<int:pk>/retry/", views.erasure_retry, name="privacy-erasure-retry"),
]
