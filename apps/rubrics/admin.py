"""Read-only Django admin views of rubrics.

Rubrics change only through ``apps.rubrics.services`` (validation, immutability of published
versions, audit), so the admin site shows them but does not edit them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Criterion, Rubric, RubricAuditEntry, RubricVersion, Section


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RubricVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RubricVersion
    fields = ("number", "status", "weighting", "critical_mode", "published_at", "retired_at")
    readonly_fields = fields
    show_change_link = True
    extra = 0


@admin.register(Rubric)
class RubricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "created_by", "created_at", "updated_at")
    search_fields = ("name", "slug", "description")
    inlines = [RubricVersionInline]


class SectionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Section
    fields = ("position", "key", "name", "weight")
    readonly_fields = fields
    show_change_link = True
    extra = 0


@admin.register(RubricVersion)
class RubricVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("rubric", "number", "status", "weighting", "critical_mode", "published_at")
    list_filter = ("status", "weighting", "critical_mode")
    search_fields = ("rubric__name",)
    list_select_related = ("rubric",)
    inlines = [SectionInline]


class CriterionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Criterion
    fk_name = "section"
    fields = ("position", "key", "name", "kind", "weight", "na_allowed", "applies_to")
    readonly_fields = fields
    extra = 0


@admin.register(Section)
class SectionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "key", "version", "position", "weight")
    search_fields = ("key", "name", "version__rubric__name")
    list_select_related = ("version__rubric",)
    inlines = [CriterionInline]


@admin.register(Criterion)
class CriterionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "key", "kind", "weight", "section", "version")
    list_filter = ("kind", "applies_to", "na_allowed")
    search_fields = ("key", "name", "version__rubric__name")
    list_select_related = ("section", "version__rubric")


@admin.register(RubricAuditEntry)
class RubricAuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "rubric", "version_number", "action", "actor")
    list_filter = ("action",)
    search_fields = ("rubric__name",)
    list_select_related = ("rubric", "actor")
    date_hierarchy = "at"
