"""The webhook outbox: one delivery row per event and endpoint, written in the same transaction
that records the job's outcome, so no restart of a gateway, worker or server can lose an event.

Events: ``job.started`` (the first time a job runs), ``job.succeeded``, ``job.failed``,
``job.canceled``. Endpoints: the job's ``callback_url`` and its API key's default endpoint
(deduplicated); an endpoint that answered 410 Gone is skipped. The payload is a snapshot of the job
at that moment; output keys are presigned only when a delivery is sent (a URL is a bearer token
and expires).

Deliverers claim a due row by moving its ``next_attempt_at`` forward (a compare-and-set), so the
scheduled sweep and an automation-triggered run never send the same attempt twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from infra.store.schema import (
    ApiKey,
    DeliveryAttempt,
    DisabledEndpoint,
    Job,
    WebhookDelivery,
    utcnow,
)

__all__ = [
    "DELIVERY_STATES",
    "EVENT_FOR_STATUS",
    "Outbox",
    "enqueue_job_event",
    "job_snapshot",
]

EVENT_FOR_STATUS = {
    "RUNNING": "job.started",
    "SUCCEEDED": "job.succeeded",
    "FAILED": "job.failed",
    "CANCELED": "job.canceled",
}
DELIVERY_STATES = ("pending", "delivered", "failed", "disabled")
RESPONSE_HEAD = 1024


def job_snapshot(job: Job, event_type: str, event_id: str) -> dict[str, Any]:
    """The event body as a client receives it (outputs are keys here; URLs at send time)."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    error = None
    if job.status in ("FAILED", "CANCELED") and job.error_code:
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "id": event_id,
        "type": event_type,
        "created_at": utcnow().isoformat(),
        "job": {
            "id": job.id,
            "status": job.status,
            "kind": job.kind,
            "error": error,
            "output_keys": dict(job.artifacts or {}) if job.status == "SUCCEEDED" else {},
            "metadata": job.client_metadata,
            "timings": {
                "created_at": when(job.created_at),
                "started_at": when(job.started_at),
                "finished_at": when(job.finished_at),
            },
        },
    }


def _endpoints(session: Session, job: Job) -> list[str]:
    urls = [job.callback_url] if job.callback_url else []
    if job.client:
        default = session.scalar(select(ApiKey.callback_url).where(ApiKey.name == job.client))
        if default:
            urls.append(default)
    disabled = set(
        session.scalars(select(DisabledEndpoint.url).where(DisabledEndpoint.url.in_(urls)))
    )
    return [u for u in dict.fromkeys(urls) if u not in disabled]


def enqueue_job_event(session: Session, job_id: str, event_type: str) -> str | None:
    """Write the event's delivery rows inside the caller's transaction; the event id, if any."""
    session.flush()
    job = session.execute(
        select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if job is None:
        return None
    urls = _endpoints(session, job)
    if not urls:
        return None
    event_id = str(uuid.uuid4())
    payload = job_snapshot(job, event_type, event_id)
    for url in urls:
        session.add(
            WebhookDelivery(
                event_id=event_id,
                event_type=event_type,
                job_id=job_id,
                client=job.client,
                url=url,
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
                payload=payload,
            )
        )
    return event_id


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    latency_ms: float
    response_head: str | None
    error: str | None


class Outbox:
    """Reads and writes of the outbox, over a ledger's sessions (``ledger.outbox``)."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger

    def due(self, now: datetime, limit: int) -> list[WebhookDelivery]:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return list(self._ledger.read(lambda s: list(s.scalars(query)), "outbox due"))

    def claim(self, delivery: WebhookDelivery, lease_until: datetime) -> bool:
        """Own ``delivery`` until ``lease_until``; False when another deliverer got it first."""

        def op(session: Session) -> bool:
            result = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery.id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
                )
                .values(next_attempt_at=lease_until)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return bool(self._ledger.write(op, "outbox claim"))

    def record(
        self,
        delivery: WebhookDelivery,
        attempt: Attempt,
        *,
        status: str,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Log the attempt and move the delivery to ``status`` (pending with a next time)."""

        def op(session: Session) -> None:
            row = session.get(WebhookDelivery, delivery.id)
            if row is None:
                return
            row.attempts += 1
            row.status = status
            row.last_status = attempt.status_code
            row.last_error = attempt.error
            if status == "delivered":
                row.delivered_at = utcnow()
            if next_attempt_at is not None:
                row.next_attempt_at = next_attempt_at
            session.add(
                DeliveryAttempt(
                    delivery_id=row.id,
                    attempt=row.attempts,
                    status_code=attempt.status_code,
                    latency_ms=round(attempt.latency_ms, 1),
                    response_head=(attempt.response_head or "")[:RESPONSE_HEAD] or None,
                    error=attempt.error,
                )
            )

        self._ledger.write(op, "outbox record")

    def disable_endpoint(self, url: str, reason: str) -> None:
        def op(session: Session) -> None:
            if session.get(DisabledEndpoint, url) is None:
                session.add(DisabledEndpoint(url=url, reason=reason))
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.url == url, WebhookDelivery.status == "pending")
                .values(status="disabled")
            )

        self._ledger.write(op, "outbox disable")

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        """The job's deliveries with their attempts, oldest first (the API and the CLI show it)."""

        def op(session: Session) -> list[dict[str, Any]]:
            rows = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.job_id == job_id)
                .order_by(WebhookDelivery.id)
            )
            out = []
            for row in rows:
                attempts = session.scalars(
                    select(DeliveryAttempt)
                    .where(DeliveryAttempt.delivery_id == row.id)
                    .order_by(DeliveryAttempt.attempt)
                )
                out.append(_delivery_view(row, list(attempts)))
            return out

        return list(self._ledger.read(op, "outbox read"))

    def list_recent(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if status:
            query = query.where(WebhookDelivery.status == status)
        rows = self._ledger.read(lambda s: list(s.scalars(query)), "outbox list")
        return [_delivery_view(row, []) for row in rows]

    def replay(self, event_id: str) -> int:
        """Deliver an event again (every endpoint of it, disabled ones excepted); rows reset."""

        def op(session: Session) -> int:
            disabled = select(DisabledEndpoint.url)
            result = session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.event_id == event_id, WebhookDelivery.url.not_in(disabled))
                .values(status="pending", next_attempt_at=utcnow(), created_at=utcnow())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

        return int(self._ledger.write(op, "outbox replay"))

    def counts(self) -> dict[str, int]:
        query = select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        rows = self._ledger.read(lambda s: list(s.execute(query)), "outbox counts")
        return {str(status): int(count) for status, count in rows}


def _delivery_view(row: WebhookDelivery, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "event_type": row.event_type,
        "job_id": row.job_id,
        "url": row.url,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "log": [
            {
                "attempt": a.attempt,
                "at": a.at.isoformat() if a.at else None,
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "response_head": a.response_head,
                "error": a.error,
            }
            for a in attempts
        ],
    }


def deadline_passed(delivery: WebhookDelivery, now: datetime, max_age_s: float) -> bool:
    return now - delivery.created_at > timedelta(seconds=max_age_s)
