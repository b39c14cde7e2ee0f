from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_defaults(sender: AppConfig, **kwargs: Any) -> None:
    # Like Django's own permissions: a new install (or an upgrade) gets the built-in operators
    # and default rules at `migrate`; what an admin changed is left alone.
    from .services import defaults_ensure

    defaults_ensure()


class IntelligenceConfig(AppConfig):
    name = "apps.intelligence"
    label = "intelligence"

    def ready(self) -> None:
        post_migrate.connect(_ensure_defaults, sender=self)
        # The conversation page (and every page showing a conversation) gets the insights.
        from apps.conversations import panels

        from .panels import insights_panel, insights_partial

        panels.register("insights", insights_panel, partial=insights_partial, order=10)
