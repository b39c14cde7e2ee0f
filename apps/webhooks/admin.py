from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .models import InboundEvent
from .services import inbox_replay


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "received_at",
        "source",
        "event_type",
        "status_badge",
        "attempts",
        "signature_valid",
        "short_error",
    )
    list_filter = (
        "source",
        "status",
        "signature_valid",
        ("received_at", admin.DateFieldListFilter),
    )
    search_fields = ("idempotency_key", "event_type", "account_sid")
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
    actions = ["replay"]
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = [f.name for f in InboundEvent._meta.fields]
    # Raw provider data (unredacted transcripts, phone numbers, headers): shown, and searched,
    # only for holders of webhooks.view_raw_body (superusers hold every permission).
    RAW_FIELDS = ("body", "headers")
    RAW_PERMISSION = "webhooks.view_raw_body"

    def _sees_raw(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.RAW_PERMISSION)

    def get_fields(self, request: HttpRequest, obj: InboundEvent | None = None) -> tuple[str, ...]:
        fields = tuple(f.name for f in InboundEvent._meta.fields)
        if self._sees_raw(request):
            return fields
        return tuple(name for name in fields if name not in self.RAW_FIELDS)

    def get_readonly_fields(
        self, request: HttpRequest, obj: InboundEvent | None = None
    ) -> tuple[str, ...]:
        return self.get_fields(request, obj)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        fields = tuple(self.search_fields)
        return (*fields, "body") if self._sees_raw(request) else fields

    class Media:
        # The status colours: a class per status, since the Content-Security-Policy forbids
        # style attributes (docs/security.md).
        css = {"all": ["webhooks/admin.css"]}

    @admin.display(description="status", ordering="status")
    def status_badge(self, event: InboundEvent) -> str:
        return format_html(
            '<b class="inbox-status inbox-status-{}">{}</b>',
            event.status,
            event.get_status_display(),
        )

    @admin.display(description="error")
    def short_error(self, event: InboundEvent) -> str:
        first_line = event.error.splitlines()[0] if event.error else ""
        return first_line[:120]

    @admin.action(description="Replay selected events")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        count = inbox_replay(ids=list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - count
        self.message_user(request, f"Queued {count} event(s) for processing.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped}: rejected events (bad signature or malformed) and events being "
                "processed cannot be replayed.",
                messages.WARNING,
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboundEvent | None = None) -> bool:
        return False
