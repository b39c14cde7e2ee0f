from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.audit_list, name="audit-list"),
    path("export.csv", views.audit_csv, name="audit-csv"),
    path("<slug:kind>/<int:pk>/", views.object_history, name="audit-object"),
]
