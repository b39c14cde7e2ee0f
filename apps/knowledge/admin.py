from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ObservationDeletion


@admin.register(ObservationDeletion)
class ObservationDeletionAdmin(admin.ModelAdmin):
    """Who forgot which observation: a record, read only."""

    list_display = ["deleted_at", "profile", "source", "author", "deleted_by", "text"]
    list_filter = ["source", "deleted_at"]
    search_fields = ["text", "profile__display_name", "profile__key"]
    list_select_related = ["profile", "author", "deleted_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
