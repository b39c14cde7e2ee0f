"""Requests to addresses that users typed (rule webhooks): only to the public internet.

A URL a user saves could aim at the portal's own network: the database, Redis, the cloud's
metadata service (169.254.169.254), an admin page on localhost. So:

* ``url_check`` (when the URL is saved): https only (unless OUTBOUND_ALLOW_HTTP), no
  credentials in it, and every address its host resolves to must be public: not loopback,
  private (RFC 1918, IPv6 ULA), shared (CGNAT 100.64/10), link-local (169.254/16, fe80::/10),
  multicast, unspecified, documentation or otherwise reserved, nor an IPv6 address that embeds
  such an IPv4 one (mapped, 6to4, Teredo, NAT64). OUTBOUND_ALLOW_PRIVATE lifts the address
  rule, for tests and local development only.
* ``post`` (when it is sent): the host is resolved again and checked the same way, and the
  connection goes to that checked address (Host header and TLS SNI/certificate still the name):
  a DNS answer that changes between the check and the connect (rebinding) cannot move it.
  Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(Exception):
    """The URL or the address it leads to may not be requested; the message says why."""


class Unresolvable(OutboundRefused):
    """The host name has no address now (checked again when a request is sent)."""


class OutboundError(Exception):
    """The request was allowed but failed (connection, timeout, TLS)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name as written (lower case), without brackets
    port: int
    path: str  # path and query


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: Address) -> str:
    """Why ``address`` is not a public one ("" when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None and (problem := address_problem(inner)):
            return f"{problem} (inside {address})"
    checks = (
        (address.is_unspecified, "is the unspecified address"),
        (address.is_loopback, "is a loopback address"),
        (address.is_link_local, "is a link-local address (where cloud metadata services live)"),
        (address.is_multicast, "is a multicast address"),
        (address.is_reserved, "is a reserved address"),
        (address.is_private, "is a private address"),
        (not address.is_global, "is not a public address (shared/CGNAT or reserved)"),
    )
    for failed, what in checks:
        if failed:
            return f"{address} {what}"
    return ""


def target_of(url: str, *, allow_http: bool | None = None) -> Target:
    """The parts of ``url`` to connect to; OutboundRefused for a scheme or form not allowed."""
    allow_http = settings.OUTBOUND_ALLOW_HTTP if allow_http is None else allow_http
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"Not a valid URL: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_http and scheme == "http"):
        raise OutboundRefused(
            "Only https:// addresses are allowed."
            if scheme == "http" or not allow_http
            else "Only http:// or https:// addresses are allowed."
        )
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused(
            "Put no user name or password in the address; the rule's secret signs every request."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundRefused("The address has no host name.")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def resolve(target: Target, *, allow_private: bool | None = None) -> list[Address]:
    """Every address the host resolves to, each checked; OutboundRefused if any is not public
    (one bad answer is enough: the resolver may hand it out next time)."""
    allow_private = settings.OUTBOUND_ALLOW_PRIVATE if allow_private is None else allow_private
    try:
        literal: Address | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(f"The host {target.host} could not be resolved ({exc}).") from None
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise Unresolvable(f"The host {target.host} has no address.")
    if not allow_private:
        for address in addresses:
            if problem := address_problem(address):
                where = problem if literal else f"{target.host} resolves to {problem}"
                raise OutboundRefused(f"{where}; only public addresses may be called.")
    return addresses


def url_check(url: str) -> None:
    """Whether ``url`` may be saved as a destination; OutboundRefused says why not.

    A name that does not resolve now is let through (DNS may be down, or the receiver not yet
    set up): every request resolves and checks it again before it connects."""
    try:
        resolve(target_of(url))
    except Unresolvable:
        return


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body`` to ``url`` over a connection pinned to an address checked just now.

    OutboundRefused: the URL or its address is not allowed (do not retry). OutboundError: the
    request failed on the way (retry later). Redirects are answers (3xx), never followed.
    """
    target = target_of(url)
    address = resolve(target)[0]
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    pool_timeout = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        # Connect to the checked address; SNI and certificate check use the name.
        pool = urllib3.HTTPSConnectionPool(
            str(address),
            target.port,
            timeout=pool_timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            str(address), target.port, timeout=pool_timeout, retries=False, maxsize=1
        )
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=True,
            assert_same_host=False,
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise OutboundError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        pool.close()
    return Answer(response.status, response.data[:2000].decode("utf-8", "replace"))
