from __future__ import annotations

from django.contrib import admin

from .models import ErasureRequest


@admin.register(ErasureRequest)
class ErasureRequestAdmin(admin.ModelAdmin):
    """Read only: requests are filed and processed through the privacy pages and services."""

    list_display = ["id", "kind", "status", "requested_by", "created_at", "completed_at"]
    list_filter = ["status", "kind"]
    readonly_fields = [f.name for f in ErasureRequest._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
