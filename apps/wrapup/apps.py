from __future__ import annotations

from django.apps import AppConfig


class WrapupConfig(AppConfig):
    name = "apps.wrapup"
    label = "wrapup"
    verbose_name = "After-call wrap-up"

    def ready(self) -> None:
        from apps.conversations import panels

        from .panels import wrapup_panel, wrapup_partial

        # First on the side column: when the call has ended, wrap-up is the agent's task.
        panels.register("wrapup", wrapup_panel, partial=wrapup_partial, order=0)
