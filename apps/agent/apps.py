from __future__ import annotations

from django.apps import AppConfig


class AgentConfig(AppConfig):
    name = "apps.agent"
    label = "agent"
    verbose_name = "Reference virtual agent (ConversationRelay)"

    def ready(self) -> None:
        from apps.conversations import panels

        from .panels import scoreboard_panel

        panels.register("agent-scoreboard", scoreboard_panel, order=2)
