"""The load profiles and the loopback rule."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from infra.errors import UrlRefused

__all__ = ["PROFILES", "LoadProfile", "require_loopback"]


@dataclass(frozen=True)
class LoadProfile:
    """``jobs`` tiny jobs from ``clients`` submitters at most ``rate_per_s`` a second (None: as
    fast as the API answers), ``idle_clients`` connections that only keep asking ``/healthz``;
    submissions stop after ``submit_budget_s``, the drain after ``drain_s`` more."""

    name: str
    jobs: int
    clients: int
    rate_per_s: float | None
    idle_clients: int
    submit_budget_s: float
    drain_s: float


PROFILES: dict[str, LoadProfile] = {
    p.name: p
    for p in (
        LoadProfile("quick", jobs=6, clients=2, rate_per_s=None, idle_clients=0,
                    submit_budget_s=120, drain_s=300),
        LoadProfile("standard", jobs=60, clients=4, rate_per_s=0.5, idle_clients=0,
                    submit_budget_s=600, drain_s=900),
        LoadProfile("stress", jobs=200, clients=16, rate_per_s=None, idle_clients=0,
                    submit_budget_s=900, drain_s=1800),
        LoadProfile("scale", jobs=100, clients=4, rate_per_s=0.5, idle_clients=200,
                    submit_budget_s=900, drain_s=1800),
    )
}  # fmt: skip


def require_loopback(url: str) -> str:
    """``url`` without a trailing slash when its host resolves to loopback addresses only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused(f"{url!r} is not an http(s) URL")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UrlRefused(f"{parts.hostname} does not resolve: {exc}") from exc
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not addresses or not all(a.is_loopback for a in addresses):
        raise UrlRefused(
            f"the load test targets loopback only; {parts.hostname} is "
            f"{', '.join(sorted(map(str, addresses)))}"
        )
    return url.rstrip("/")
