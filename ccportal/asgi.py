"""ASGI entry point (Daphne): HTTP through Django, WebSockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from apps.accounts.middleware import WebsocketSessionIdleTimeout  # noqa: E402
from ccportal.routing import twilio_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402

browser_websockets = AllowedHostsOriginValidator(
    AuthMiddlewareStack(WebsocketSessionIdleTimeout(URLRouter(websocket_urlpatterns)))
)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Twilio's sockets first (signed by Twilio, checked by their consumer); every other
        # socket is a browser's: origin check and session auth.
        "websocket": URLRouter([*twilio_websocket_urlpatterns, re_path(r"", browser_websockets)]),
    }
)
