from __future__ import annotations

from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Facts per conversation, rollups, dashboards and exports."""

    name = "apps.insights"
    label = "insights"

    def ready(self) -> None:
        from apps.common.changes import on_conversations_changed

        from .services import facts_mark_stale

        # Every writer of a conversation's inputs marks its facts stale, in its transaction.
        on_conversations_changed(facts_mark_stale)
