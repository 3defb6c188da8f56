"""Where a webhook may be sent: the server-side request forgery guard.

A webhook URL is chosen by a company, but the request leaves from inside the platform's network, so an
endpoint must not reach what only the platform can reach (a metadata service on 169.254.169.254, a
database on 10.0.0.5, an admin page on localhost). Unless private networks are allowed (settings:
`webhooks_reach_private_networks`, off by default in production) a URL must be https, and every address
its host resolves to must be public: not loopback, private, link-local, multicast, reserved, unspecified
or otherwise not globally routable (IPv4 inside IPv6 is unwrapped first).

The check runs twice: when an endpoint is created or changed (a typed error), and again at every
delivery, because the name may resolve elsewhere by then (DNS rebinding). A delivery then connects to
the very address that was checked (`Target.address`), never resolving the name a second time; the
certificate is still verified against the host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from models.errors import DomainError, ErrorCode

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """A URL that may not be called; the message says why, in the API's words."""


@dataclass(frozen=True, slots=True)
class Target:
    """A URL and the checked address to connect to for it."""

    url: SplitResult
    host: str  # as written in the URL, lower-case, without brackets
    port: int
    address: IPAddress


def parse_url(url: str, *, allow_http: bool) -> SplitResult:
    """The URL's parts, or AddressRefused: an absolute http(s) URL with a host and no user name or password."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"A webhook URL has at most {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise AddressRefused("A webhook URL is written in ASCII without spaces (punycode for international names)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("Not a valid URL") from None
    if parts.scheme not in ("https", "http"):
        raise AddressRefused("A webhook URL starts with https://")
    if parts.scheme == "http" and not allow_http:
        raise AddressRefused("A webhook URL must use https")
    if not parts.hostname:
        raise AddressRefused("A webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("A webhook URL carries no user name or password: authenticate by the signature")
    if parts.fragment:
        raise AddressRefused("A webhook URL has no #fragment")
    if port == 0:
        raise AddressRefused("Not a valid port")
    return parts


def why_not_public(address: IPAddress) -> str | None:
    """Why an address is not a public one (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            reason = why_not_public(embedded)
            if reason:
                return reason
    checks = (
        ("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local), ("multicast", address.is_multicast),
        ("private", address.is_private), ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, applies in checks if applies), None)


def _shown(address: IPAddress) -> str:
    """An address as people write it (IPv4 inside IPv6 in dotted form, whatever the Python version)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an address literal resolves to itself), or AddressRefused."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
            RESOLVE_TIMEOUT_SECONDS)
    except (OSError, UnicodeError, TimeoutError):
        raise AddressRefused(f"The host {host} does not resolve") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # drop an IPv6 zone
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise AddressRefused(f"The host {host} does not resolve")
    return addresses


async def target(url: str, *, private_allowed: bool) -> Target:
    """Where to connect for `url`: its host resolved and every address checked (AddressRefused otherwise)."""
    parts = parse_url(url, allow_http=private_allowed)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not private_allowed:
        for address in addresses:
            reason = why_not_public(address)
            if reason:
                raise AddressRefused(f"The host {host} resolves to {_shown(address)}, a {reason} address: webhooks go "
                                     "to public addresses only")
    return Target(parts, host, port, addresses[0])


async def check_endpoint_url(url: str, *, private_allowed: bool, field: str = "url") -> str:
    """The URL to store for an endpoint, or URL_NOT_ALLOWED on `field`. Where private networks are allowed
    (development, tests) the host is not resolved: a receiver that is not running yet is fine."""
    url = url.strip()
    try:
        if private_allowed:
            parse_url(url, allow_http=True)
        else:
            await target(url, private_allowed=False)
    except AddressRefused as refused:
        raise DomainError(ErrorCode.URL_NOT_ALLOWED, str(refused), field) from None
    return url
