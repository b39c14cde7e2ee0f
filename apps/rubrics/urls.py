from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.rubric_list, name="rubric-list"),
    path("new/", views.rubric_create, name="rubric-create"),
    path("import/", views.rubric_import_page, name="rubric-import"),
    path("<int:pk>/", views.rubric_detail, name="rubric-detail"),
    path("<int:pk>/new-draft/", views.rubric_new_draft, name="rubric-new-draft"),
    path("<int:pk>/import/", views.rubric_import_page, name="rubric-import-version"),
    path("<int:pk>/compare/", views.rubric_diff, name="rubric-diff"),
    path("<int:pk>/history/", views.rubric_audit, name="rubric-audit"),
    path("<int:pk>/v<int:number>/", views.version_detail, name="rubric-version"),
    path("<int:pk>/v<int:number>/edit/", views.version_edit, name="rubric-version-edit"),
    path("<int:pk>/v<int:number>/publish/", views.version_publish, name="rubric-version-publish"),
    path("<int:pk>/v<int:number>/retire/", views.version_retire, name="rubric-version-retire"),
    path("<int:pk>/v<int:number>/discard/", views.version_discard, name="rubric-version-discard"),
    path("<int:pk>/v<int:number>/preview/", views.version_preview, name="rubric-version-preview"),
    path(
        "<int:pk>/v<int:number>/export/<str:fmt>/",
        views.version_export,
        name="rubric-version-export",
    ),
    path("<int:pk>/v<int:number>/push/", views.version_push, name="rubric-version-push"),
]
