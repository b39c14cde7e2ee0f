"""The address of the client that sent a request, as far as we can trust what we are told.

Without TRUST_PROXY_HEADERS it is the socket's peer (REMOTE_ADDR): X-Forwarded-For is whatever
the client wrote. Behind our proxies, X-Forwarded-For is read from the right (each proxy appends
the address it saw) and the first hop that is not one of TRUSTED_PROXIES is the client: hops to
its left were written by the client itself and may be forged.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(value: str) -> Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:51234"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_ip(request: HttpRequest) -> str:
    """The client's address as a string ("" when even the peer address is unreadable)."""
    return client_address(
        request.META.get("REMOTE_ADDR", "") or "", request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


def client_address(remote_addr: str, forwarded_for: str) -> str:
    """The same rule for any transport: the socket's peer, and X-Forwarded-For only when that
    peer is one of our proxies (the lean webhook entry point reads the WSGI environ directly)."""
    peer = _address(remote_addr)
    if peer is None:
        return ""
    if not getattr(settings, "TRUST_PROXY_HEADERS", False):
        return str(peer)
    trusted = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))

    def is_ours(address: Address) -> bool:
        return any(address.version == net.version and address in net for net in trusted)

    if not is_ours(peer):  # not reached through our proxy: its header proves nothing
        return str(peer)
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage written by the client: stop at the last hop we trust
            break
        client = address
        if not is_ours(address):
            break
    return str(client)
