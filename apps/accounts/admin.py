from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from . import services
from .models import Agent, AgentIdentity, ApiToken, Team, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active", "teams")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Portal", {"fields": ("role", "teams")}))
    filter_horizontal = ("teams", "groups", "user_permissions")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)


class AgentIdentityInline(admin.TabularInline):
    model = AgentIdentity
    extra = 1


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("display_name", "team", "user", "is_active")
    list_filter = ("team", "is_active")
    search_fields = ("display_name", "identities__value")
    inlines = [AgentIdentityInline]
    raw_id_fields = ("user",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Everyone's API tokens, to see and revoke; never to make (the secret is shown once, to its
    owner: /account/tokens/ or ``manage.py api_token``) nor to edit."""

    list_display = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at", "state")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "prefix", "user__username")
    raw_id_fields = ("user",)
    exclude = ("secret_hash",)
    readonly_fields = (
        "user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at",
        "revoked_by",
    )  # fmt: skip
    actions = ["revoke"]

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        return token.status(timezone.now())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(
            services.api_token_revoke(token_id=pk, by=request.user)  # type: ignore[arg-type]
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
