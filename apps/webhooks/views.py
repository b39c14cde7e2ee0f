"""Twilio webhook endpoints through Django's stack: the rules are apps/webhooks/ingest.py.

In production the POSTs to the orchestrator, intelligence and voice-status URLs are served by
the lean entry point in front of Django (apps/webhooks/entry.py, ccportal/wsgi.py) with the same
rules; these views serve the relay action (Twilio waits for its TwiML), and any request that
reaches Django (tests, ``manage.py runserver``, the ASGI process).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import ingest
from .choices import Source


def _endpoint(source: str):  # type: ignore[no-untyped-def]
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        answer = ingest.receive(request, source)
        response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
        for name, value in answer.headers.items():
            response[name] = value
        return response

    view.__name__ = f"{source}_webhook"
    return view


orchestrator_events = _endpoint(Source.ORCHESTRATOR)
intelligence_results = _endpoint(Source.INTELLIGENCE)
relay_action = _endpoint(Source.RELAY_ACTION)
voice_status = _endpoint(Source.VOICE_STATUS)
