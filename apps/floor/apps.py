from __future__ import annotations

from django.apps import AppConfig


class FloorConfig(AppConfig):
    name = "apps.floor"
    label = "floor"
    verbose_name = "Supervisor floor, alerts and tips"

    def ready(self) -> None:
        from apps.common.changes import on_conversations_changed
        from apps.conversations import panels

        from .panels import assist_panel
        from .services import floor_mark

        on_conversations_changed(floor_mark)
        panels.register("floor", assist_panel, order=2)
