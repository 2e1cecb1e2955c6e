"""The deliverer: send due outbox rows, signed, under the SSRF rules; log every attempt.

At-least-once: a delivery is attempted until an endpoint answers 2xx (delivered), 410 (the endpoint
is disabled: no further deliveries go to it), or ``REELFLOW_WEBHOOKS__MAX_AGE_S`` passes (failed).
Other answers, timeouts and refused addresses are retried with exponential backoff and jitter.
Each attempt is logged (status, latency, the first 1 KB of the answer). The URL passes the SSRF
rules at every attempt (a host may resolve elsewhere later); redirects are not followed. Outputs
are presigned at send time, with their expiry in the body.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from infra.errors import UrlRefused
from infra.net.fetch import open_checked
from infra.net.ssrf import check_url
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore
from infra.store.ledger import JobLedger
from infra.store.outbox import RESPONSE_HEAD, Attempt, deadline_passed
from infra.store.schema import ApiKey, WebhookDelivery, utcnow
from infra.webhooks.signing import HEADER, signature_header

__all__ = ["backoff_s", "deliver_due", "secrets_for"]

log = logging.getLogger("reelflow.webhooks")


def backoff_s(attempts: int, settings: Settings) -> float:
    """Delay before the next attempt after ``attempts`` failed ones (exponential, jittered)."""
    cfg = settings.webhooks
    delay = min(cfg.retry_base_s * 2 ** max(attempts - 1, 0), cfg.retry_max_s)
    return float(delay * (1 + cfg.retry_jitter * random.random()))


def secrets_for(ledger: JobLedger, client: str | None, settings: Settings) -> list[str]:
    """The secrets that sign a client's callbacks: its key's current and previous one (both valid
    during a rotation), else the installation's signing secret."""
    if client:
        key = ledger.read(
            lambda s: s.query(ApiKey).filter(ApiKey.name == client).one_or_none(), "key secrets"
        )
        if key is not None and key.webhook_secret:
            return [s for s in (key.webhook_secret, key.previous_webhook_secret) if s]
    secret = settings.webhooks.signing_secret.get_secret_value()
    return [secret] if secret else []


def _body(delivery: WebhookDelivery, store: ArtifactStore, settings: Settings) -> bytes:
    payload: dict[str, Any] = json.loads(json.dumps(delivery.payload or {}))
    job = payload.get("job") or {}
    keys = job.pop("output_keys", {}) or {}
    expiry = settings.storage.presign_expiry_s
    job["outputs"] = {name: store.url_for(key, expiry) for name, key in sorted(keys.items())}
    job["outputs_expire_at"] = (utcnow() + timedelta(seconds=expiry)).isoformat() if keys else None
    payload["job"] = job
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _send(
    client: httpx.Client,
    delivery: WebhookDelivery,
    body: bytes,
    secrets: list[str],
    settings: Settings,
) -> Attempt:
    started = time.monotonic()
    try:
        checked = check_url(delivery.url, settings.net.allow_hosts, what="callback URL")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "reelflow-webhooks",
            "Reelflow-Event-Id": delivery.event_id,
            "Reelflow-Event-Type": delivery.event_type,
            HEADER: signature_header(secrets, body),
        }
        response = open_checked(client, checked, "POST", content=body, headers=headers)
        try:
            head = b""
            for chunk in response.iter_bytes():
                head += chunk
                if len(head) >= RESPONSE_HEAD:
                    break
        finally:
            response.close()
        elapsed = (time.monotonic() - started) * 1000
        text = head[:RESPONSE_HEAD].decode("utf-8", "replace")
        return Attempt(response.status_code, elapsed, text, None)
    except UrlRefused as exc:
        return Attempt(None, (time.monotonic() - started) * 1000, None, str(exc))
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        return Attempt(None, (time.monotonic() - started) * 1000, None, error)


def deliver_due(
    ledger: JobLedger, store: ArtifactStore, settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    """Send every due delivery once; a report of what happened to each."""
    cfg = settings.webhooks
    now = now or utcnow()
    report = {"delivered": 0, "retrying": 0, "failed": 0, "disabled": 0, "skipped": 0}
    timeout = httpx.Timeout(cfg.timeout_s, connect=min(cfg.timeout_s, 5.0))
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for delivery in ledger.outbox.due(now, cfg.batch):
            if not ledger.outbox.claim(delivery, now + timedelta(seconds=cfg.lease_s)):
                report["skipped"] += 1  # another deliverer has it
                continue
            secrets = secrets_for(ledger, delivery.client, settings)
            if not secrets:
                attempt = Attempt(None, 0.0, None, "no webhook signing secret is configured")
            else:
                body = _body(delivery, store, settings)
                attempt = _send(client, delivery, body, secrets, settings)
            status = attempt.status_code
            if status is not None and 200 <= status < 300:
                ledger.outbox.record(delivery, attempt, status="delivered")
                report["delivered"] += 1
            elif status == 410:
                ledger.outbox.record(delivery, attempt, status="disabled")
                reason = f"410 Gone for event {delivery.event_id}"
                ledger.outbox.disable_endpoint(delivery.url, reason)
                report["disabled"] += 1
            elif deadline_passed(delivery, utcnow(), cfg.max_age_s):
                ledger.outbox.record(delivery, attempt, status="failed")
                report["failed"] += 1
            else:
                later = utcnow() + timedelta(seconds=backoff_s(delivery.attempts + 1, settings))
                ledger.outbox.record(delivery, attempt, status="pending", next_attempt_at=later)
                report["retrying"] += 1
            log.info(
                "webhook %s %s to %s: %s",
                delivery.event_type,
                delivery.event_id,
                delivery.url,
                status or attempt.error,
            )
    return report
