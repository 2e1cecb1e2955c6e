"""What the gateway adds to every request, and the ledger readers its metrics need.

:class:`GatewayMiddleware` (pure ASGI, so uploads still stream): the client IP's rate limit for
``/v1``, the ``X-RateLimit-*`` headers on every answer (the key's bucket when a key was checked,
else the IP's), and ``observe_request`` with the route *template*. :func:`watch` registers the
scrape-time sources of :mod:`infra.metrics`: the ledger snapshot and job feed (adapters below),
Prefect's pools and workers, the work root's free space.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import func, or_, select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.api.access import Gateway
from infra.api.errors import error_response
from infra.api.ratelimit import Verdict
from infra.errors import RateLimited
from infra.metrics import (
    JobRecord,
    LedgerSnapshot,
    follow_jobs,
    watch_ledger,
    watch_prefect,
)
from infra.store.ledger import JobLedger, JobStatus
from infra.store.schema import Job, WebhookDelivery, utcnow

__all__ = ["GatewayMiddleware", "ledger_changes", "ledger_snapshot", "watch"]

LIMITED_PREFIX = "/v1/"


class GatewayMiddleware:
    def __init__(
        self, app: ASGIApp, gateway: Gateway, static_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.gw = gateway
        self.static_paths = static_paths  # routes without parameters: their path is the label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                verdict: Verdict | None = state.get("ratelimit")
                if verdict is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in verdict.headers().items():
                        headers[name] = value
            await send(message)

        try:
            if scope["path"].startswith(LIMITED_PREFIX):
                client = scope.get("client")
                ip = client[0] if client else "unknown"
                rate = self.gw.settings.api.ip_rate_per_min
                verdict = await anyio.to_thread.run_sync(
                    self.gw.buckets.take, f"ip:{ip}", rate, 60.0
                )
                state["ratelimit"] = verdict
                if not verdict.allowed:
                    self.gw.metrics.refused(RateLimited.code)
                    refusal = RateLimited(
                        f"{ip} is over the limit of {rate} requests per minute",
                        retry_after_s=verdict.retry_after_s,
                    )
                    await error_response(refusal)(scope, receive, send_with_headers)
                    return
            await self.app(scope, receive, send_with_headers)
        finally:
            template = getattr(scope.get("route"), "path", None)
            if template is None and scope["path"] in self.static_paths and status != 404:
                template = scope["path"]  # /openapi.json, /docs: Starlette routes, no template
            self.gw.metrics.observe_request(
                template,
                scope.get("method", "GET"),
                status,
                time.perf_counter() - started,
            )


def ledger_snapshot(ledger: JobLedger, max_duration_s: int | None) -> Callable[[], LedgerSnapshot]:
    """``snapshot()`` for :func:`infra.metrics.watch_ledger`: three grouped queries."""

    def read() -> LedgerSnapshot:
        def query(session: Any) -> LedgerSnapshot:
            now = utcnow()
            by_state = dict(
                session.execute(
                    select(Job.status, func.count())
                    .where(Job.deleted_at.is_(None))
                    .group_by(Job.status)
                ).all()
            )
            oldest = session.scalar(
                select(func.min(Job.started_at)).where(Job.status == JobStatus.RUNNING)
            )
            over = 0
            if max_duration_s is not None:
                cutoff = now - timedelta(seconds=max_duration_s)
                over = session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.status == JobStatus.RUNNING, Job.started_at < cutoff)
                )
            hooks = dict(
                session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                ).all()
            )
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=now.tzinfo)
            return LedgerSnapshot(
                jobs_by_state={str(k): int(v) for k, v in by_state.items()},
                queue_depth=int(by_state.get(JobStatus.QUEUED.value, 0)),
                oldest_running_age_s=(now - oldest).total_seconds() if oldest else 0.0,
                running_over_limit=int(over or 0),
                webhook_deliveries={str(k): int(v) for k, v in hooks.items()},
            )

        return ledger.read(query, "metrics snapshot")

    return read


def ledger_changes(ledger: JobLedger) -> Callable[[datetime], Iterable[JobRecord]]:
    """``read_changes(since)`` for :func:`infra.metrics.follow_jobs`: jobs created, started or
    finished at or after ``since``."""

    def read(since: datetime) -> list[JobRecord]:
        query = select(Job).where(
            or_(Job.created_at >= since, Job.started_at >= since, Job.finished_at >= since)
        )
        rows = ledger.read(lambda s: list(s.scalars(query)), "metrics changes")
        return [
            JobRecord(
                job_id=job.id,
                kind=job.kind,
                preset=job.preset,
                client=job.client,
                status=job.status,
                created_at=job.created_at,
                started_at=job.started_at,
                finished_at=job.finished_at,
                error_code=job.error_code,
                output_s=job.output_duration_s,
            )
            for job in rows
        ]

    return read


def watch(gw: Gateway, pools: Iterable[str]) -> None:
    """Register the gateway's scrape-time metric sources on ``gw.metrics``."""
    ledger = gw.service.ledger
    watch_ledger(ledger_snapshot(ledger, gw.settings.limits.max_duration_s), metrics=gw.metrics)
    follow_jobs(ledger_changes(ledger), metrics=gw.metrics)
    watch_prefect(pools=list(pools), metrics=gw.metrics)
    gw.metrics.watch_work_root(gw.settings.work_dir_root)
