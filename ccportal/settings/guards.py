"""Trust and safety: what the inbox keeps of refused requests, how repeated signature failures
are slowed down, and what outgoing requests (rule webhooks) may reach."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from .env import get_bool, get_int, get_list

# Behind a reverse proxy: take the client address from X-Forwarded-For (the right-most hop that
# is not one of TRUSTED_PROXIES). Off: the address is the socket's peer (REMOTE_ADDR). The same
# variable makes Django trust X-Forwarded-Proto/Host (settings/base.py).
TRUST_PROXY_HEADERS = get_bool("TRUST_PROXY_HEADERS", False)
# Networks (CIDR) whose hops in X-Forwarded-For are our own proxies, skipped from the right.
TRUSTED_PROXIES = get_list(
    "TRUSTED_PROXIES",
    ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)
for _network in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_network!r} is not an address or network (e.g. 10.0.0.0/8)."
        ) from None

# Requests refused for their signature (or before it could be checked) are kept without their
# body (size, SHA-256 and headers only) and deleted after this many days. 0 keeps them.
WEBHOOK_REJECTED_RETENTION_DAYS = get_int("WEBHOOK_REJECTED_RETENTION_DAYS", 7, minimum=0)
# After this many signature failures from one client address within the window, further
# unverified requests from it get 429 (Retry-After) and are not stored. 0 turns the limit off.
WEBHOOK_SIGNATURE_FAILURE_LIMIT = get_int("WEBHOOK_SIGNATURE_FAILURE_LIMIT", 20, minimum=0)
WEBHOOK_SIGNATURE_FAILURE_WINDOW_SECONDS = get_int(
    "WEBHOOK_SIGNATURE_FAILURE_WINDOW_SECONDS", 600, minimum=1
)

# Outgoing rule webhooks: plain http:// is refused unless this is on (local tests only).
OUTBOUND_ALLOW_HTTP = get_bool("OUTBOUND_ALLOW_HTTP", False)
# Addresses that are not public (loopback, private, link-local, CGNAT, ...) are refused unless
# this is on (local tests only).
OUTBOUND_ALLOW_PRIVATE = get_bool("OUTBOUND_ALLOW_PRIVATE", False)
