"""Webhook routes: a job's delivery log, and the inbound hooks that start jobs.

- ``GET /v1/jobs/{id}/deliveries``: the callbacks of one of your jobs, with every attempt.
- ``POST /v1/hooks/s3``: MinIO bucket notifications (S3-event JSON), authenticated by the token
  MinIO sends in ``Authorization`` (``REELFLOW_WEBHOOKS__S3_TOKEN``; its notify_webhook
  auth_token set to ``Bearer <token>``). Each created object under a watch rule's prefix becomes
  one ``reelflow.source.uploaded`` Prefect event; the rule's automation runs its deployment.
- ``POST /v1/hooks/generic/{name}``: a JSON job request signed with the hook's secret
  (``Reelflow-Signature: t=<unix>,v1=<hex>``, as callbacks are signed). A stale timestamp, a
  reused signature or a bad signature is 401 and emits nothing.

Events are sent with Prefect's events client and awaited (not fire-and-forget), so a 202 means
Prefect has the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from infra.api.access import Principal, authenticate, gateway_of
from infra.api.errors import ERROR_RESPONSES
from infra.errors import InputInvalid, PayloadTooLarge, Unauthorized
from infra.jobs.models import JobRequest
from infra.store.schema import SeenSignature, utcnow
from infra.webhooks.inbound import hook_event, source_event, uploaded_objects
from infra.webhooks.signing import HEADER, parse_header, verify

__all__ = ["router"]

router = APIRouter(tags=["webhooks"], responses=ERROR_RESPONSES)
Caller = Annotated[Principal, Depends(authenticate)]
MAX_HOOK_BODY = 256 * 1024


@router.get("/v1/jobs/{job_id}/deliveries", summary="The callbacks of a job, with every attempt")
def deliveries(request: Request, job_id: str, principal: Caller) -> list[dict[str, Any]]:
    gw = gateway_of(request)
    gw.service.get(job_id, client=principal.client)  # your job, or 404/410
    return gw.service.ledger.outbox.for_job(job_id)


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_HOOK_BODY:
            raise PayloadTooLarge(f"a hook body is at most {MAX_HOOK_BODY // 1024} KB")
    return body


async def _emit(events: list[dict[str, Any]]) -> None:
    from prefect.events import Event
    from prefect.events.clients import get_events_client

    async with get_events_client() as client:
        for event in events:
            await client.emit(Event(**event))


@router.post("/v1/hooks/s3", status_code=202, summary="MinIO bucket notifications")
async def s3_notification(request: Request) -> JSONResponse:
    gw = gateway_of(request)
    token = gw.settings.webhooks.s3_token.get_secret_value()
    given = request.headers.get("authorization", "")
    if not token or not any(
        hmac.compare_digest(given.encode(), candidate.encode())
        for candidate in (token, f"Bearer {token}")
    ):
        raise Unauthorized("unauthorized")
    try:
        notification = json.loads(await _body(request))
    except ValueError as exc:
        raise InputInvalid("the notification is not JSON") from exc
    if not isinstance(notification, dict):
        raise InputInvalid("the notification is not a JSON object")
    found = uploaded_objects(notification, gw.settings.webhooks.watch, gw.settings.storage.bucket)
    events = [source_event(obj) for obj in found]
    await _emit(events)
    return JSONResponse(status_code=202, content={"events": [str(e["id"]) for e in events]})


@router.post("/v1/hooks/generic/{name}", status_code=202, summary="A signed job request")
async def generic_hook(request: Request, name: str) -> JSONResponse:
    gw = gateway_of(request)
    hook = gw.settings.webhooks.generic_hooks.get(name)
    body = await _body(request)
    header = request.headers.get(HEADER, "")
    window = gw.settings.webhooks.replay_window_s
    if hook is None or not verify(
        header, body, [hook.secret.get_secret_value()], tolerance_s=window
    ):
        raise Unauthorized("unauthorized")
    # The request is what the signature covers (its timestamp and body), never a v1 value the
    # client chose: extra v1 entries beside the good one would otherwise be new requests.
    stamp, _ = parse_header(header)
    signed = f"{stamp}.{hashlib.sha256(body).hexdigest()}"
    digest = hashlib.sha256(f"{name}:{signed}".encode()).hexdigest()
    ledger = gw.service.ledger

    def remember(session: Any) -> bool:
        cutoff = utcnow() - timedelta(seconds=2 * window)
        session.query(SeenSignature).filter(SeenSignature.seen_at < cutoff).delete()
        if session.get(SeenSignature, digest) is not None:
            return False
        session.add(SeenSignature(digest=digest))
        return True

    if not ledger.write(remember, "hook replay check"):
        raise Unauthorized("unauthorized")  # a replayed signature
    try:
        request_body = json.loads(body)
        JobRequest.model_validate({**request_body, "client": f"hook:{name}"})
    except ValueError as exc:
        raise InputInvalid(f"the hook body is not a valid job request: {exc}") from exc
    event = hook_event(name, signed, request_body)
    await _emit([event])
    return JSONResponse(status_code=202, content={"event": str(event["id"])})
