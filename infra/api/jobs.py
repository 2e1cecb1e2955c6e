"""``/v1/jobs``: submit, list, read, cancel and delete jobs. Thin: the job service does the work.

A submission is JSON naming its source (``s3://<bucket>/inbox/...`` or ``https://...``) or a
multipart upload (``file`` plus the same options as form fields) that is streamed to the job's
own inbox prefix first (:mod:`infra.api.uploads`). Either way the gateway then checks the callback
URL against the SSRF rules and hands the request to :meth:`JobService.submit`, which preflights
it, creates the flow run (idempotency key = job id) and claims the ledger row. An upload whose
job is refused, or that replays an earlier job, is deleted again.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio.from_thread
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from infra.api.access import Gateway, Principal, admit, authenticate, client_ip, gateway_of
from infra.api.errors import ERROR_RESPONSES, documented_error
from infra.api.schemas import JobDocument, JobLinks, JobPage, JobSubmission, invalid
from infra.api.uploads import FIELDS_MAX_BYTES, MultipartForm, Upload, boundary_of, receive_upload
from infra.errors import InputInvalid, JobIdTaken, Overloaded, PayloadTooLarge
from infra.jobs.service import Submission, request_digest
from infra.net.ssrf import check_url
from infra.store.layout import JOB_ID_PATTERN, Area, validate_job_id
from infra.store.ledger import Job, JobStatus

__all__ = ["base_url", "job_document", "router"]

MAX_JSON_BYTES = 64 * 1024
# What a client may name as a JSON source: never a path on the gateway's host.
REMOTE_SOURCES = ("s3://", "https://", "http://")
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The job's id.")]
Caller = Annotated[Principal, Depends(authenticate)]
JobState = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED"]

_FORM_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The source file."},
        "kind": {"type": "string", "enum": ["auto", "document", "media"]},
        "preset": {"type": "string", "enum": ["hd", "sd", "tiny"]},
        "voice": {"type": "string"},
        "engine": {"type": "string", "enum": ["espeak", "piper", "remote"]},
        "language": {"type": "string"},
        "job_id": {"type": "string", "pattern": JOB_ID_PATTERN, "description": "Before `file`."},
        "callback_url": {"type": "string"},
        "metadata": {"type": "string", "description": "A JSON object (at most 1 KB)."},
        "limits": {"type": "string", "description": "A JSON object (JobLimits)."},
        "priority": {"type": "string", "enum": ["high", "normal", "low"]},
    },
}
_SUBMIT_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/JobSubmission"}},
            "multipart/form-data": {"schema": _FORM_SCHEMA},
        },
    }
}


def base_url(gw: Gateway, request: Request) -> str:
    return (gw.settings.api.public_url or str(request.base_url)).rstrip("/")


def job_document(gw: Gateway, request: Request, job: Job, *, presign: bool = True) -> JobDocument:
    """The status document of ``job`` with its links (playback once its HLS ladder exists)."""
    view = gw.service.view(job, presign=presign)
    base = base_url(gw, request)
    playback = None
    if job.status == JobStatus.SUCCEEDED and isinstance((job.artifacts or {}).get("hls"), str):
        token = gw.tokens.mint(job.id)
        playback = f"{base}/v1/jobs/{job.id}/hls/master.m3u8?token={token}"
    links = JobLinks(self=f"{base}/v1/jobs/{job.id}", playback=playback)
    return JobDocument.model_validate({**view.as_dict(), "links": links})


# -- submit ------------------------------------------------------------------------------------


@router.post(
    "",
    status_code=202,
    response_model=JobDocument,
    summary="Submit a job (JSON or a multipart upload)",
    openapi_extra=_SUBMIT_OPENAPI,
    responses={
        200: {"model": JobDocument, "description": "An Idempotency-Key replay: the first job."},
        409: documented_error("`job_id_taken` or `idempotency_conflict`."),
        413: documented_error("`payload_too_large`: the upload is over its kind's limit."),
        503: documented_error("`overloaded` (Retry-After) or `prefect_unavailable`."),
    },
)
async def submit_job(
    request: Request,
    principal: Caller,
    idempotency_key: Annotated[
        str | None, Header(pattern=IDEMPOTENCY_KEY_PATTERN, description="Replays the first job.")
    ] = None,
) -> Response:
    gw = gateway_of(request)
    ledger = gw.service.ledger
    replay = idempotency_key is not None and (
        await run_in_threadpool(ledger.find_idempotent, principal.client, idempotency_key)
        is not None
    )
    if not replay:
        await run_in_threadpool(admit, gw, principal, client_ip(request))
    content_type = request.headers.get("content-type", "")
    upload: Upload | None = None
    try:
        if content_type.lower().startswith("multipart/"):
            upload = await _receive(request, gw, boundary_of(content_type), replay)
            submission, digest = _from_form(gw, upload)
        elif content_type.split(";")[0].strip().lower() == "application/json":
            body = await _read_json(request)
            try:
                submission = JobSubmission.model_validate(body)
            except ValidationError as exc:
                raise invalid(exc) from exc
            digest = request_digest(body)
        else:
            raise InputInvalid("send application/json or multipart/form-data")
        own_key = upload.stored.key if upload is not None else None
        result = await run_in_threadpool(
            _submit, gw, principal, submission, digest, idempotency_key, own_key
        )
    except BaseException:
        if upload is not None:
            await run_in_threadpool(_discard, gw, upload)
        raise
    if upload is not None and not result.created:
        await run_in_threadpool(_discard, gw, upload)  # the replayed job has its own source
    doc = await run_in_threadpool(job_document, gw, request, result.job)
    return JSONResponse(
        doc.model_dump(mode="json"),
        status_code=202 if result.created else 200,
        headers={"Location": doc.links.self},
    )


def _discard(gw: Gateway, upload: Upload) -> None:
    """Remove this request's own upload (never the job's whole inbox: another request with the
    same job id may have its own object there)."""
    gw.service.store.delete_key(upload.stored.key)


def _check_sources(
    gw: Gateway, principal: Principal, submission: JobSubmission, own_key: str | None
) -> None:
    """An API client names no path on a worker and no other client's upload: every source
    (``source``, each ``timeline`` part, each subtitle) is an ``https://`` URL or an object of
    this bucket; never an ``inbox/<job id>/`` object of another client's job. (An inbox
    object of no job was put in the bucket by its owners; the gateway's own uploads sit in a
    random folder per request, so they cannot be named before their job exists.)"""
    sources = [submission.source, *submission.timeline, *(s.source for s in submission.subtitles)]
    for source in sources:
        if not source.startswith(REMOTE_SOURCES):
            raise InputInvalid(
                "every source of a request (source, timeline, subtitles) is "
                "s3://<bucket>/inbox/... or an https:// URL; upload a local file as "
                "multipart/form-data"
            )
        if not source.startswith("s3://"):
            continue
        key = source.removeprefix("s3://").partition("/")[2]
        if not key.startswith(f"{Area.INBOX.value}/") or key == own_key:
            continue
        owner_job = key.split("/")[1]
        job = gw.service.ledger.get(owner_job) if re.fullmatch(JOB_ID_PATTERN, owner_job) else None
        if job is not None and job.client != principal.client:
            raise InputInvalid(f"{source[:200]} is not one of your uploads")


async def _read_json(request: Request) -> Any:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"a JSON body may have at most {MAX_JSON_BYTES // 1024} KB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"a JSON body may have at most {MAX_JSON_BYTES // 1024} KB")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InputInvalid("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InputInvalid("the body must be a JSON object")
    return data


async def _receive(request: Request, gw: Gateway, boundary: bytes, replay: bool) -> Upload:
    cfg = gw.settings.input
    length = request.headers.get("content-length", "")
    ceiling = max(cfg.max_bytes, cfg.max_media_bytes) + 2 * FIELDS_MAX_BYTES
    if length.isdigit() and int(length) > ceiling:
        raise PayloadTooLarge(f"the upload is larger than every limit ({ceiling / 1e6:.0f} MB)")
    chunks = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    def pull() -> bytes | None:
        while True:
            chunk = anyio.from_thread.run(next_chunk)
            if chunk is None or chunk:
                return chunk

    def job_id_for(fields: dict[str, str]) -> str:
        given = fields.get("job_id")
        if given is None or replay:  # a replay's upload is only compared, then discarded
            return uuid.uuid4().hex
        job_id = validate_job_id(given)
        if gw.service.ledger.get(job_id) is not None:
            raise JobIdTaken(f"job id {job_id} is already taken; choose another id")
        return job_id

    form = MultipartForm(boundary, pull)
    try:
        return await run_in_threadpool(
            receive_upload, form, gw.service.store, gw.settings, job_id_for
        )
    except ClientDisconnect as exc:
        raise InputInvalid("the client went away during the upload; nothing was kept") from exc


def _from_form(gw: Gateway, upload: Upload) -> tuple[JobSubmission, str]:
    fields = upload.fields
    data: dict[str, Any] = {k: v for k, v in fields.items() if k not in ("metadata", "limits")}
    for name in ("metadata", "limits"):
        if name in fields:
            try:
                data[name] = json.loads(fields[name])
            except ValueError as exc:
                raise InputInvalid(f"the form field {name!r} is not JSON") from exc
    data["source"] = f"s3://{gw.settings.storage.bucket}/{upload.stored.key}"
    data["job_id"] = upload.job_id
    try:
        submission = JobSubmission.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from exc
    body = {"fields": fields, "file": upload.name, "sha256": upload.stored.sha256}
    return submission, request_digest(body)


def _submit(
    gw: Gateway,
    principal: Principal,
    submission: JobSubmission,
    digest: str,
    idempotency_key: str | None,
    own_key: str | None = None,
) -> Submission:
    _check_sources(gw, principal, submission, own_key)
    if submission.callback_url is not None:
        check_url(submission.callback_url, gw.settings.net.allow_hosts, what="callback URL")
    priority = submission.priority if submission.priority is not None else principal.priority
    if not gw.submit_slots.acquire(timeout=gw.settings.api.submit_wait_s):
        raise Overloaded(
            "too many submissions at once; try again shortly",
            retry_after_s=gw.settings.api.overload_retry_after_s,
        )
    try:
        return gw.service.submit(
            submission.job_request(),
            client=principal.client,
            idempotency_key=idempotency_key,
            digest=digest,
            priority=priority,
            client_metadata=submission.metadata,
            callback_url=submission.callback_url,
        )
    except JobIdTaken:
        # Two requests with one Idempotency-Key at once: the loser replays the winner's job.
        previous = (
            gw.service.ledger.find_idempotent(principal.client, idempotency_key)
            if idempotency_key is not None
            else None
        )
        if previous is not None and previous.request_digest == digest:
            return Submission(previous, created=False)
        raise
    finally:
        gw.submit_slots.release()


# -- read ------------------------------------------------------------------------------------


def _cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _before(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        return datetime.fromisoformat(created), validate_job_id(job_id)
    except (ValueError, TypeError, binascii.Error, InputInvalid) as exc:
        raise InputInvalid("the cursor is not valid; pass next_cursor as it was given") from exc


@router.get("", response_model=JobPage, summary="List your jobs, newest first")
def list_jobs(
    request: Request,
    principal: Caller,
    status: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=400, description="next_cursor.")] = None,
) -> JobPage:
    gw = gateway_of(request)
    found = gw.service.ledger.list_jobs(
        limit=limit + 1, status=status, client=principal.client, before=_before(cursor)
    )
    page = found[:limit]
    return JobPage(
        jobs=[job_document(gw, request, job, presign=False) for job in page],
        next_cursor=_cursor(page[-1]) if len(found) > limit else None,
    )


@router.get(
    "/{job_id}",
    response_model=JobDocument,
    summary="A job's status document",
    responses={404: documented_error("`not_found`"), 410: documented_error("`job_deleted`")},
)
def get_job(request: Request, job_id: JobId, principal: Caller) -> JobDocument:
    gw = gateway_of(request)
    return job_document(gw, request, gw.service.get(job_id, client=principal.client))


# -- cancel / delete -------------------------------------------------------------------------


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobDocument,
    summary="Cancel a job (idempotent)",
    responses={404: documented_error("`not_found`"), 410: documented_error("`job_deleted`")},
)
def cancel_job(request: Request, job_id: JobId, principal: Caller) -> JobDocument:
    gw = gateway_of(request)
    gw.service.cancel(job_id, client=principal.client)
    return job_document(gw, request, gw.service.get(job_id, client=principal.client))


@router.delete(
    "/{job_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a job: cancel it, remove its objects, keep an audit row",
    responses={404: documented_error("`not_found`"), 410: documented_error("`job_deleted`")},
)
def delete_job(request: Request, job_id: JobId, principal: Caller) -> Response:
    gw = gateway_of(request)
    gw.service.delete(job_id, by=principal.client, client=principal.client)
    return Response(status_code=204)
