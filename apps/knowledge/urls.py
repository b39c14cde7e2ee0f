"""Pages of Enterprise Knowledge (articles) and Conversation Memory (customers), under
/intelligence/ where they began. Every name contains "knowledge" so the navigation highlights
Knowledge."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("knowledge/", views.knowledge_list, name="knowledge-list"),
    path("knowledge/new/", views.knowledge_create, name="knowledge-create"),
    path("knowledge/<int:pk>/", views.knowledge_detail, name="knowledge-detail"),
    path("knowledge/<int:pk>/edit/", views.knowledge_edit, name="knowledge-edit"),
    path("knowledge/<int:pk>/delete/", views.knowledge_delete, name="knowledge-delete"),
    path("customers/", views.customer_list, name="knowledge-customer-list"),
    path("customers/<int:pk>/", views.customer_detail, name="knowledge-customer-detail"),
    path(
        "customers/<int:pk>/observations/",
        views.observation_add,
        name="knowledge-observation-add",
    ),
    path(
        "customers/<int:pk>/observations/<int:observation_pk>/delete/",
        views.observation_delete,
        name="knowledge-observation-delete",
    ),
]
