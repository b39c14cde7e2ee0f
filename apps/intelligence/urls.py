"""Operator and rule pages, under /intelligence/.

Every name starts with "rules" so the site navigation marks its "Rules" entry on all of them
(``templates/base.html`` looks for "rules" in the page's URL name). ``rule-list`` is the name
other pages link to; the list answers to "rules-list" first, which the navigation recognises.
"""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("rules/", views.rule_list, name="rules-list"),
    path("rules/", views.rule_list, name="rule-list"),
    path("rules/new/", views.rule_create, name="rules-create"),
    path("rules/<int:pk>/", views.rule_detail, name="rules-detail"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rules-edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rules-delete"),
    path("rules/<int:pk>/active/", views.rule_set_active, name="rules-set-active"),
    path("rules/<int:pk>/run/", views.rule_run, name="rules-run"),
    path("operators/", views.operator_list, name="rules-operator-list"),
    path("operators/new/", views.operator_create, name="rules-operator-create"),
    path("operators/<int:pk>/", views.operator_detail, name="rules-operator-detail"),
    path(
        "operators/<int:pk>/new-version/",
        views.operator_new_version,
        name="rules-operator-new-version",
    ),
    path("operators/<int:pk>/active/", views.operator_set_active, name="rules-operator-set-active"),
]
