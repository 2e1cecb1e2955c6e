"""Who is calling and whether they may: API keys, rate limits, concurrency and admission.

Order of checks for a request under ``/v1``: the client IP's bucket (gateway middleware), then
:func:`authenticate` (the key, then the key's bucket), then for a submission :func:`admit` (the
anonymous submission bucket, the key's active jobs, the global queue depth). A refusal is the
error of its code; nothing is read from the body or written before all of them passed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from infra.api.playback import PlaybackTokens
from infra.api.ratelimit import Buckets
from infra.errors import ConcurrencyLimited, Overloaded, RateLimited, Unauthorized
from infra.jobs.service import JobService
from infra.metrics import ReelflowMetrics
from infra.settings import Settings
from infra.store.api_keys import ApiKeyStore
from infra.store.ledger import JobStatus

__all__ = ["Gateway", "Principal", "admit", "authenticate", "client_ip", "gateway_of"]

MINUTE = 60.0


@dataclass
class Gateway:
    """What the routes share, built once by ``create_app`` and passed down."""

    settings: Settings
    service: JobService
    keys: ApiKeyStore
    buckets: Buckets
    tokens: PlaybackTokens
    metrics: ReelflowMetrics
    submit_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(4)
    )


@dataclass(frozen=True)
class Principal:
    client: str  # the key's name (recorded on every job), or anonymous:<ip>
    max_active: int
    priority: str
    anonymous: bool = False


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(request: Request) -> Principal:
    """The caller of ``request`` (a FastAPI dependency; sync, so it runs in the thread pool).

    ``unauthorized`` without detail for a missing, malformed, unknown or revoked key;
    ``rate_limited`` with Retry-After when the key's bucket is empty.
    """
    gw = gateway_of(request)
    header = request.headers.get("authorization")
    if header is None:
        if gw.settings.api.anonymous:
            return Principal(
                f"anonymous:{client_ip(request)}"[:128], gw.settings.api.key_max_active, "low", True
            )
        raise Unauthorized("authentication required: send Authorization: Bearer <API key>")
    scheme, _, token = header.partition(" ")
    key = gw.keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <API key>")
    verdict = gw.buckets.take(f"key:{key.id}", key.rate_per_min, MINUTE)
    request.state.ratelimit = verdict
    if not verdict.allowed:
        raise RateLimited(
            f"the key {key.name} is over its limit of {key.rate_per_min} requests per minute",
            retry_after_s=verdict.retry_after_s,
        )
    return Principal(key.name, key.max_active, key.priority)


def admit(gw: Gateway, principal: Principal, ip: str) -> None:
    """May ``principal`` queue one more job now? Raises the refusal's error when not."""
    cfg = gw.settings.api
    if principal.anonymous:
        verdict = gw.buckets.take(
            f"anonymous-submit:{ip}", cfg.anonymous_submissions, cfg.anonymous_window_s
        )
        if not verdict.allowed:
            raise RateLimited(
                f"anonymous clients may submit {cfg.anonymous_submissions} jobs per "
                f"{cfg.anonymous_window_s} s; use an API key for more",
                retry_after_s=verdict.retry_after_s,
            )
    ledger = gw.service.ledger
    active = ledger.count_active(principal.client)
    if active >= principal.max_active:
        raise ConcurrencyLimited(
            f"{principal.client} has {active} active jobs (QUEUED or RUNNING), its limit is "
            f"{principal.max_active}; submit again when one has finished"
        )
    queued = ledger.counts_by_status().get(JobStatus.QUEUED.value, 0)
    if queued >= cfg.max_queue_depth:
        raise Overloaded(
            f"the queue is full ({queued} jobs waiting, limit {cfg.max_queue_depth}); "
            "try again later",
            retry_after_s=cfg.overload_retry_after_s,
        )
