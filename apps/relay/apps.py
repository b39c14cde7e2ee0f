from __future__ import annotations

from django.apps import AppConfig


class RelayConfig(AppConfig):
    name = "apps.relay"
    label = "relay"
    verbose_name = "ConversationRelay handoffs"

    def ready(self) -> None:
        from apps.conversations import panels

        from .panels import handoff_panel

        panels.register("handoff", handoff_panel, order=1)
