"""WSGI entry point (gunicorn / granian), for serving plain HTTP where throughput matters.

The webhook POSTs that are only stored (orchestrator, intelligence, voice status) are served by
apps/webhooks/entry.py in front of Django's middleware stack, with the same rules of ingest
(apps/webhooks/ingest.py) and the inbox rows of concurrent requests written in one commit;
everything else is Django as usual. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
django_application = get_wsgi_application()

from apps.webhooks.entry import LeanWebhooks  # noqa: E402  (needs the apps loaded)

application = LeanWebhooks(django_application)
