"""Inbound hooks: a request from outside becomes a Prefect event; an automation runs the job.

Prefect's inbound webhooks exist only in Prefect Cloud; on a self-hosted server the gateway checks
the request, emits an event, and an automation (created by ``reelflow bootstrap``) reacts with
RunDeployment. Two kinds:

- MinIO bucket notifications (``POST /v1/hooks/s3``): each ``s3:ObjectCreated:*`` record under a
  watch rule's prefix becomes ``reelflow.source.uploaded``. Its id is a uuid5 of bucket, key, etag
  and sequencer, so a redelivered notification is the same event (Prefect drops a duplicate it
  has seen) and, across a restart, the same job id (claimed once: a second run is refused).
- Generic hooks (``POST /v1/hooks/generic/<name>``): a JSON job request signed with the hook's
  secret (``Reelflow-Signature``, infra/webhooks/signing.py). Stale, reused or bad signatures are
  refused (401) and emit nothing. The request becomes ``reelflow.hook.received``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from infra.settings.webhooks import WatchRule

__all__ = [
    "HOOK_EVENT",
    "SOURCE_EVENT",
    "UploadedObject",
    "hook_event",
    "source_event",
    "uploaded_objects",
]

SOURCE_EVENT = "reelflow.source.uploaded"
HOOK_EVENT = "reelflow.hook.received"
_NAMESPACE = uuid.UUID("5f0e6b1c-8c3e-4e53-9a51-7b8f3e1f2a10")


@dataclass(frozen=True)
class UploadedObject:
    bucket: str
    key: str
    etag: str
    sequencer: str
    size: int
    rule: WatchRule

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"{self.bucket}/{self.key}/{self.etag}/{self.sequencer}")


def uploaded_objects(
    notification: dict[str, Any], rules: Sequence[WatchRule], bucket: str
) -> list[UploadedObject]:
    """The created objects of a MinIO (S3-event JSON) notification that a watch rule covers."""
    found = []
    for record in notification.get("Records") or []:
        if not isinstance(record, dict):
            continue
        if not str(record.get("eventName", "")).startswith("s3:ObjectCreated:"):
            continue
        s3 = record.get("s3") or {}
        name = str((s3.get("bucket") or {}).get("name", ""))
        obj = s3.get("object") or {}
        key = unquote_plus(str(obj.get("key", "")))  # S3 event keys are URL-encoded
        if name != bucket or not key or ".." in key.split("/"):
            continue
        rule = next((r for r in rules if key.startswith(r.prefix)), None)
        if rule is None:
            continue
        found.append(
            UploadedObject(
                bucket=name,
                key=key,
                etag=str(obj.get("eTag") or obj.get("etag") or ""),
                sequencer=str(obj.get("sequencer") or ""),
                size=int(obj.get("size") or 0),
                rule=rule,
            )
        )
    return found


def source_event(obj: UploadedObject) -> dict[str, Any]:
    """The Prefect event (as keyword arguments of ``Event``) for an uploaded object."""
    job_id = str(obj.event_id)
    return {
        "id": obj.event_id,
        "event": SOURCE_EVENT,
        "resource": {
            "prefect.resource.id": f"reelflow.object.{obj.bucket}/{obj.key}",
            "reelflow.bucket": obj.bucket,
            "reelflow.key": obj.key,
            "reelflow.watch": obj.rule.name,
            "reelflow.job-id": job_id,
        },
        "payload": {"size": obj.size, "etag": obj.etag},
    }


def hook_event(name: str, signed: str, request: dict[str, Any]) -> dict[str, Any]:
    """The Prefect event for an accepted generic hook request (already a validated request);
    ``signed`` names what its signature covers (``<timestamp>.<sha256 of the body>``)."""
    event_id = uuid.uuid5(_NAMESPACE, f"hook/{name}/{hashlib.sha256(signed.encode()).hexdigest()}")
    return {
        "id": event_id,
        "event": HOOK_EVENT,
        "resource": {"prefect.resource.id": f"reelflow.hook.{name}", "reelflow.hook": name},
        "payload": {"request": {**request, "job_id": str(event_id), "client": f"hook:{name}"}},
    }
