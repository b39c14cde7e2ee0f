"""WSGI entry point (gunicorn), for serving plain HTTP where throughput matters."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
application = get_wsgi_application()
