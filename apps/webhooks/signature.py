"""X-Twilio-Signature verification with the twilio library's RequestValidator.

Never skipped, not in DEBUG either. The URL checked is the public one Twilio called: the
configured PUBLIC_BASE_URL plus the request's path and query, because behind a proxy or tunnel the
Host the app sees is not the one Twilio signed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, urlparse, urlsplit

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.http.request import split_domain_port, validate_host
from twilio.request_validator import (
    RequestValidator,
    add_port,
    get_signature_algorithm,
    remove_port,
)

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
        if token.strip():  # settings refuse an empty one; never build a validator on it
            pairs.append((account.strip(), RequestValidator(token.strip())))
    return tuple(pairs)


def public_url(request: HttpRequest) -> str:
    """The URL Twilio requested, as Twilio saw it."""
    return candidate_urls(request)[0]


def candidate_urls(request: HttpRequest) -> list[str]:
    """PUBLIC_BASE_URL + path first; behind a trusted proxy also the URL that the proxy's
    X-Forwarded-Proto/Host describe (one portal reached under two names, e.g. per account).
    Worked out once per request (the check and the stored row both need it)."""
    cached: list[str] | None = request.__dict__.get("_twilio_candidate_urls")
    if cached is not None:
        return cached
    urls = []
    base = getattr(settings, "PUBLIC_BASE_URL", "")
    if base:
        urls.append(base.rstrip("/") + request.get_full_path())
    if not urls or getattr(settings, "USE_X_FORWARDED_HOST", False):
        try:
            forwarded = request.build_absolute_uri()
        except Exception:  # DisallowedHost: a forged Host header is simply not a candidate
            forwarded = ""
        if forwarded and forwarded not in urls:
            urls.append(forwarded)
    request.__dict__["_twilio_candidate_urls"] = urls
    return urls


@lru_cache(maxsize=256)
def _port_forms(address: str) -> tuple[str, ...]:
    """``scheme://host[:port]/path`` without and with the port, the two forms
    ``RequestValidator.validate`` signs (Twilio's own signing is inconsistent about the port);
    worked out once per address, not per request: only the query changes between deliveries."""
    parsed = urlparse(address)
    forms = (remove_port(parsed), add_port(parsed))
    return forms[:1] if forms[0] == forms[1] else forms


def _signed_urls(url: str) -> list[str]:
    address, mark, query = url.partition("?")
    if not query:  # urlparse().geturl() drops an empty query: sign what the validator would
        return list(_port_forms(address))
    return [form + mark + query for form in _port_forms(address)]


def verify(
    request: HttpRequest,
    *,
    body: str | None,
    form: QueryDict | None,
    body_sha256: str | None = None,
) -> Verdict:
    """Check the signature of a JSON (``body``) or form-encoded (``form``) request.

    What ``RequestValidator.validate`` checks, with its ``compute_signature`` (the HMAC): the
    URL without and with its port, and for JSON the body's SHA-256 against the URL's
    ``bodySHA256`` (``body_sha256``, the hex digest of the UTF-8 body, if the caller has it).
    """
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not signature:
        return Verdict(False, "missing X-Twilio-Signature header")
    validators = _validators(tuple(settings.TWILIO_AUTH_TOKENS))
    if not validators:
        return Verdict(False, "no Twilio auth token is configured (TWILIO_AUTH_TOKENS)")
    urls = candidate_urls(request)
    algorithm = get_signature_algorithm(request.META.get(SETTINGS_HEADER, ""))
    if algorithm.upper() not in ("HMAC_SHA1", "HMAC_SHA256"):
        return Verdict(False, f"unsupported signature algorithm {algorithm}")
    params: dict[str, str] | QueryDict
    if body is not None:
        # JSON webhooks sign the URL, which carries the body's SHA-256 as bodySHA256.
        declared = parse_qs(urlsplit(urls[0]).query).get("bodySHA256")
        if not declared:
            return Verdict(False, "JSON request without bodySHA256 in the URL")
        if body_sha256 is None:
            body_sha256 = hashlib.sha256(body.encode("utf-8")).hexdigest()
        if not hmac.compare_digest(body_sha256, declared[0]):
            return Verdict(False, "signature does not match")
        params = {}
    else:
        params = form if form is not None else QueryDict()
    expected = signature.encode("utf-8", "surrogateescape")
    for url in urls:
        for signed in _signed_urls(url):
            for account_sid, validator in validators:
                computed = validator.compute_signature(signed, params, algorithm)
                if hmac.compare_digest(computed.encode(), expected):
                    return Verdict(True, account_sid=account_sid)
    return Verdict(False, "signature does not match")


def websocket_url(path_and_query: str) -> str:
    """The wss:// (ws:// for a plain-http portal) URL Twilio connects to for ``path_and_query``."""
    base = getattr(settings, "PUBLIC_BASE_URL", "").rstrip("/")
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path_and_query}"


def _upgrade_url(*, path_and_query: str, headers: Mapping[bytes, bytes], scheme: str) -> str | None:
    """The URL of the upgrade request as it arrived, the way ``request.build_absolute_uri``
    works it out for the HTTP path: the Host header (X-Forwarded-Host behind a trusted proxy,
    ``USE_X_FORWARDED_HOST``) checked against ALLOWED_HOSTS, and the proxy's
    X-Forwarded-Proto when ``SECURE_PROXY_SSL_HEADER`` trusts it. None for a forged host."""

    def header(name: bytes) -> str:
        return headers.get(name, b"").decode("latin1").split(",")[0].strip()

    host = header(b"x-forwarded-host") if getattr(settings, "USE_X_FORWARDED_HOST", False) else ""
    host = host or header(b"host")
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:  # as Django's get_host
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host)
    if not host or not domain or not validate_host(domain, allowed):
        return None
    secure = scheme in ("wss", "https")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        meta_name, value = proxy
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
        if header(name):
            secure = header(name) == value
    return f"{'wss' if secure else 'ws'}://{host}{path_and_query}"


def _websocket_port_forms(url: str) -> list[str]:
    """``url`` without and with its port (wss: 443, ws: 80), as ``_port_forms`` does for
    https and http: the twilio library's ``add_port`` knows only those two schemes."""
    parsed = urlsplit(url)
    default = 443 if parsed.scheme == "wss" else 80
    host = parsed.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    rest = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    port = parsed.port
    forms = [f"{parsed.scheme}://{host}{rest}"]
    if port is not None and port != default:
        forms = [f"{parsed.scheme}://{host}:{port}{rest}"]
    else:
        forms.append(f"{parsed.scheme}://{host}:{default}{rest}")
    return forms


def verify_websocket(
    *,
    path: str,
    query_string: str,
    signature: str,
    headers: Mapping[bytes, bytes] | None = None,
    scheme: str = "",
) -> Verdict:
    """Check the ``X-Twilio-Signature`` of a WebSocket upgrade (ConversationRelay): the
    signature covers the wss:// URL Twilio connected to (the TwiML's ``url``), no parameters.

    The URLs tried are those of the HTTP path (``candidate_urls``): PUBLIC_BASE_URL's, and,
    without one or behind a trusted proxy, the upgrade's own (its host, the proxy's
    X-Forwarded-Proto); each without and with the port."""
    if not signature:
        return Verdict(False, "missing X-Twilio-Signature header")
    validators = _validators(tuple(settings.TWILIO_AUTH_TOKENS))
    if not validators:
        return Verdict(False, "no Twilio auth token is configured (TWILIO_AUTH_TOKENS)")
    path_and_query = path + (f"?{query_string}" if query_string else "")
    urls = []
    if getattr(settings, "PUBLIC_BASE_URL", ""):
        urls.append(websocket_url(path_and_query))
    if not urls or getattr(settings, "USE_X_FORWARDED_HOST", False):
        own = _upgrade_url(path_and_query=path_and_query, headers=headers or {}, scheme=scheme)
        if own and own not in urls:
            urls.append(own)
    expected = signature.encode("utf-8", "surrogateescape")
    for url in urls:
        for signed in _websocket_port_forms(url):
            for account_sid, validator in validators:
                computed = validator.compute_signature(signed, {})
                if hmac.compare_digest(computed.encode(), expected):
                    return Verdict(True, account_sid=account_sid)
    return Verdict(False, "signature does not match")
