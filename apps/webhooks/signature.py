"""X-Twilio-Signature verification with the twilio library's RequestValidator.

Never skipped, not in DEBUG either. The URL checked is the public one Twilio called: the
configured PUBLIC_BASE_URL plus the request's path and query, because behind a proxy or tunnel the
Host the app sees is not the one Twilio signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.http import HttpRequest, QueryDict
from twilio.request_validator import RequestValidator, get_signature_algorithm

SIGNATURE_HEADER = "HTTP_X_TWILIO_SIGNATURE"
SETTINGS_HEADER = "HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS"


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str = ""
    account_sid: str = ""


@lru_cache(maxsize=8)
def _validators(tokens: tuple[str, ...]) -> tuple[tuple[str, RequestValidator], ...]:
    pairs = []
    for entry in tokens:
        account, sep, token = entry.partition(":")
        if not sep:
            account, token = "", entry
        pairs.append((account.strip(), RequestValidator(token.strip())))
    return tuple(pairs)


def public_url(request: HttpRequest) -> str:
    """The URL Twilio requested, as Twilio saw it."""
    base = getattr(settings, "PUBLIC_BASE_URL", "")
    if base:
        return base.rstrip("/") + request.get_full_path()
    return request.build_absolute_uri()


def verify(request: HttpRequest, *, body: str | None, form: QueryDict | None) -> Verdict:
    """Check the signature of a JSON (``body``) or form-encoded (``form``) request."""
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not signature:
        return Verdict(False, "missing X-Twilio-Signature header")
    validators = _validators(tuple(settings.TWILIO_AUTH_TOKENS))
    if not validators:
        return Verdict(False, "no Twilio auth token is configured (TWILIO_AUTH_TOKENS)")
    url = public_url(request)
    algorithm = get_signature_algorithm(request.META.get(SETTINGS_HEADER, ""))
    if body is not None:
        # JSON webhooks sign the URL, which carries the body's SHA-256 as bodySHA256.
        if "bodySHA256" not in parse_qs(urlsplit(url).query):
            return Verdict(False, "JSON request without bodySHA256 in the URL")
        params: str | QueryDict = body
    else:
        params = form if form is not None else QueryDict()
    for account_sid, validator in validators:
        if validator.validate(url, params, signature, algorithm):
            return Verdict(True, account_sid=account_sid)
    return Verdict(False, "signature does not match")
