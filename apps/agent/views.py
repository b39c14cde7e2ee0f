"""The voice webhook that answers a call with the virtual agent (signed by Twilio, like every
webhook: never skipped)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.webhooks.signature import verify

from .services.twiml import twiml_for_incoming_call

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def incoming_call(request: HttpRequest) -> HttpResponse:
    verdict = verify(request, body=None, form=request.POST)
    if not verdict.valid:
        logger.warning("virtual agent: refused an incoming-call request: %s", verdict.reason)
        return HttpResponse(verdict.reason, status=403, content_type="text/plain")
    return HttpResponse(twiml_for_incoming_call(), content_type="text/xml")
