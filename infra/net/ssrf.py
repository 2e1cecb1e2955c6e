"""The SSRF rules for URLs a request names (https sources, webhook callback URLs).

A URL passes when its scheme is https (plain http only for an allowlisted host), it has no user
info, and **every** address its host resolves to is a public unicast address: loopback, private
(RFC 1918, ULA), link-local (incl. the 169.254.169.254 metadata service), CGNAT, multicast,
reserved and unspecified addresses are refused unless the host is in
``REELFLOW_NET__ALLOW_HOSTS``. The host is resolved once; callers connect to the address that was
checked (:class:`CheckedURL`), never to a name resolved again (no DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from infra.errors import UrlRefused

__all__ = ["CheckedURL", "check_url", "is_public_address"]

Resolver = Callable[[str, int], Sequence[str]]
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


@dataclass(frozen=True)
class CheckedURL:
    url: str
    parts: SplitResult
    host: str
    port: int
    address: str  # the checked IP to connect to

    def url_for_address(self) -> str:
        """The URL with the host replaced by the checked address (send ``Host`` = host)."""
        ip = ipaddress.ip_address(self.address)
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = f"{literal}:{self.port}"
        return self.parts._replace(netloc=netloc).geturl()


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast and ip not in METADATA_ADDRESSES


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(
    url: str,
    allow_hosts: Sequence[str] = (),
    resolver: Resolver = _resolve,
    what: str = "URL",
) -> CheckedURL:
    """Check ``url`` under the rules above; UrlRefused (``url_refused``) says why not."""
    if len(url) > 2048:
        raise UrlRefused(f"the {what} is longer than 2048 characters")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise UrlRefused(f"the {what} is not a valid URL") from exc
    allowed = host in {h.lower() for h in allow_hosts}
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise UrlRefused(f"the {what} must be https:// (got {parts.scheme or 'no scheme'}://)")
    if not host:
        raise UrlRefused(f"the {what} has no host")
    if parts.username or parts.password:
        raise UrlRefused(f"the {what} must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UrlRefused(f"the {what} has an invalid port") from exc
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(f"the {what}'s host {host!r} does not resolve") from exc
    if not addresses:
        raise UrlRefused(f"the {what}'s host {host!r} does not resolve")
    if not allowed:
        for address in addresses:
            if not is_public_address(address):
                raise UrlRefused(
                    f"the {what}'s host {host!r} resolves to {address}, a loopback, private, "
                    "link-local, multicast or metadata address; refused (an operator can "
                    "allow the host in REELFLOW_NET__ALLOW_HOSTS)"
                )
    return CheckedURL(url, parts, host, port, addresses[0])
