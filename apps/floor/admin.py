from __future__ import annotations

from django.contrib import admin

from .models import Alert, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "threshold", "severity", "cooldown_seconds", "raise_flag",
                    "is_active"]  # fmt: skip
    list_editable = ["threshold", "severity", "cooldown_seconds", "raise_flag", "is_active"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["title", "conversation", "severity", "count", "status", "last_fired_at"]
    list_filter = ["severity", "status", "rule"]
    raw_id_fields = ["conversation", "acknowledged_by"]
