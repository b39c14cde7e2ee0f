from __future__ import annotations

from django.apps import AppConfig


class LiveConfig(AppConfig):
    """WebSocket consumers: browsers join per-scope groups that services broadcast to."""

    name = "apps.live"
    label = "live"
