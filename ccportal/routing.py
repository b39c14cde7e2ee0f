"""WebSocket routes; each app with live updates adds its consumers here."""

from __future__ import annotations

from django.urls import path

from apps.agent.consumers import RelayConsumer
from apps.live.consumers import (
    ConversationConsumer,
    FloorConsumer,
    NotificationConsumer,
    PingConsumer,
)

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
    path("ws/conversations/<int:pk>/", ConversationConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/floor/", FloorConsumer.as_asgi()),
]

# Twilio's sockets: no browser, no Origin header, no session. Each consumer checks Twilio's
# signature of the upgrade request itself (ccportal/asgi.py routes these outside the browser stack).
twilio_websocket_urlpatterns = [
    path("ws/agent/relay/", RelayConsumer.as_asgi()),
]
