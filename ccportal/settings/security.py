"""Deployment defaults (HTTPS, cookies, HSTS, framing) and the Content-Security-Policy.

A deployment is "behind TLS" when DEBUG is off and PUBLIC_BASE_URL is https: then cookies are
secure, HSTS is sent and plain-HTTP requests are redirected. Every value can still be set on its
own through the environment. The CSP (django-csp) is on in every mode, DEBUG included, so a
developer sees a violation the day it is written (docs/security.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from .base import DEBUG, PUBLIC_BASE_URL
from .env import get_bool, get_int, get_list, get_str

_public = urlsplit(PUBLIC_BASE_URL)
_PUBLIC_ORIGIN = f"{_public.scheme}://{_public.netloc}"
BEHIND_TLS = not DEBUG and _public.scheme == "https"

# Cookies: secure behind TLS. SECURE_COOKIES sets both at once (kept from earlier releases).
_secure_cookies = get_bool("SECURE_COOKIES", BEHIND_TLS)
SESSION_COOKIE_SECURE = get_bool("SESSION_COOKIE_SECURE", _secure_cookies)
CSRF_COOKIE_SECURE = get_bool("CSRF_COOKIE_SECURE", _secure_cookies)


def _same_site(name: str) -> str:
    value = get_str(name, "Lax").strip().capitalize()
    if value not in {"Lax", "Strict", "None"}:
        raise ImproperlyConfigured(f"{name} must be Lax, Strict or None, got {value!r}.")
    return value


# The assist view framed by another site (Flex, a CRM) only sees the session when the cookies are
# sent cross-site: SameSite=None, which browsers accept only on secure cookies.
SESSION_COOKIE_SAMESITE = _same_site("SESSION_COOKIE_SAMESITE")
CSRF_COOKIE_SAMESITE = _same_site("CSRF_COOKIE_SAMESITE")
for _name, _same, _secure in (
    ("SESSION_COOKIE_SAMESITE", SESSION_COOKIE_SAMESITE, SESSION_COOKIE_SECURE),
    ("CSRF_COOKIE_SAMESITE", CSRF_COOKIE_SAMESITE, CSRF_COOKIE_SECURE),
):
    if _same == "None" and not _secure:
        raise ImproperlyConfigured(
            f"{_name}=None needs secure cookies (browsers drop SameSite=None cookies without "
            "Secure): serve the portal over HTTPS and set SECURE_COOKIES=true."
        )

# Forms posted from the public origin pass the CSRF origin check behind a proxy that rewrites
# the Host or the scheme.
CSRF_TRUSTED_ORIGINS = get_list("CSRF_TRUSTED_ORIGINS", [_PUBLIC_ORIGIN])

# HSTS: a year behind TLS (start lower, e.g. SECURE_HSTS_SECONDS=3600, on a first rollout).
# includeSubDomains and preload bind every subdomain and the browsers' preload lists for a long
# time: only on request.
SECURE_HSTS_SECONDS = get_int("SECURE_HSTS_SECONDS", 31_536_000 if BEHIND_TLS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = get_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = get_bool("SECURE_HSTS_PRELOAD", False)

# Plain HTTP is redirected to HTTPS behind TLS. Behind a proxy that terminates TLS the request
# looks like HTTP unless the proxy sets X-Forwarded-Proto and TRUST_PROXY_HEADERS=true (else the
# redirect loops). The health check is exempt: container probes call it over plain HTTP.
# Webhooks are not: Twilio calls PUBLIC_BASE_URL (https), and a signed body must not be taken
# over plain HTTP.
SECURE_SSL_REDIRECT = get_bool("SECURE_SSL_REDIRECT", BEHIND_TLS)
SECURE_REDIRECT_EXEMPT = get_list("SECURE_REDIRECT_EXEMPT", [r"^healthz$"])

SECURE_CONTENT_TYPE_NOSNIFF = get_bool("SECURE_CONTENT_TYPE_NOSNIFF", True)
# Links out of the portal carry no path: conversation and review URLs stay inside.
SECURE_REFERRER_POLICY = get_str("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = get_str("SECURE_CROSS_ORIGIN_OPENER_POLICY", "same-origin")
X_FRAME_OPTIONS = get_str("X_FRAME_OPTIONS", "DENY").upper()

# Deliberate choices, not oversights: `check --deploy` asks for includeSubDomains and preload
# whenever HSTS is on; they stay opt-in (above).
SILENCED_SYSTEM_CHECKS = [
    *(["security.W005"] if not SECURE_HSTS_INCLUDE_SUBDOMAINS else []),
    *(["security.W021"] if not SECURE_HSTS_PRELOAD else []),
]

# Content-Security-Policy. No inline script or style anywhere: pages take their scripts and
# styles from static files, data-driven sizes are set through the CSSOM by static scripts
# (allowed), and images are our own or data: URLs (Bootstrap's icons in CSS, the favicon).
# (Settings named CSP_* are django-csp 3's and rejected by its checks: the environment
# variables keep the prefix, the module-level names do not.)
_ws_origin = f"{'wss' if _public.scheme == 'https' else 'ws'}://{_public.netloc}"
_report_only = get_bool("CSP_REPORT_ONLY", False)
_report_uri = get_str("CSP_REPORT_URI", "")
_DIRECTIVES: dict[str, Any] = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    # 'self' covers ws(s) of the same origin in current browsers; the public origin is named for
    # older ones and for a page served under another host name than the WebSocket's.
    "connect-src": [SELF, _ws_origin, *get_list("CSP_CONNECT_SRC", [])],
    "object-src": [NONE],
    "base-uri": [SELF],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
    "report-uri": [_report_uri] if _report_uri else None,
}
# frame-ancestors is ignored in a report-only policy, so it is always enforced: a report-only
# switch (to try a change on a live site) never opens the pages to framing.
_framing = {"default-src": None, "frame-ancestors": [NONE]}
if _report_only:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _framing}
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {
        "DIRECTIVES": {k: v for k, v in _DIRECTIVES.items() if k != "frame-ancestors"}
    }
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _DIRECTIVES}
