"""The job service: submit, read, cancel and delete jobs. The CLI and the HTTP gateway call only
this; neither holds job logic.

Contracts:

- submit: the request is preflighted (fast, coded refusals, nothing written), its job id is free
  (``job_id_taken`` otherwise, the existing job untouched), an ``Idempotency-Key`` replays the first
  job for the same body and is ``idempotency_conflict`` for another; then one flow run of the
  deployment for the job's kind is created (idempotency key = job id) and the ledger row is
  claimed, bound to that run.
- cancel: CANCELED in the ledger at once (the upload stage checks it before every object, so
  nothing is uploaded after a cancel), then the flow run is set Cancelling; idempotent.
- delete: cancel if active, remove the job's outputs, scratch and inbox objects and its work
  folder through the checked helpers, keep the row as an audit record (who, when); the id then
  answers ``job_deleted`` consistently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra.errors import (
    IdempotencyConflict,
    InputInvalid,
    JobDeleted,
    JobIdTaken,
    NotFound,
    ReelflowError,
)
from infra.jobs.limits import docker_job_variables, effective_limits
from infra.jobs.models import JobKind, JobRequest
from infra.jobs.preflight import Preflight, preflight
from infra.prefect import client as prefect
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore, open_store
from infra.store.layout import Area
from infra.store.ledger import TERMINAL, Job, JobLedger, JobStatus
from infra.store.removal import delete_job_objects, remove_work_dir

__all__ = ["JobService", "JobView", "Submission", "request_digest"]

log = logging.getLogger("reelflow.jobs")


def request_digest(body: Any) -> str:
    """A stable digest of a request body (for idempotency: same key, same body)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool  # False when an idempotent replay returned the first job


@dataclass
class JobView:
    """What a client sees of a job (the API's status document, ``reelflow show``)."""

    id: str
    status: str
    kind: str | None
    stage: str | None
    progress: float | None
    status_hint: str
    error: dict[str, Any] | None
    client: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    outputs: dict[str, str] = field(default_factory=dict)  # name -> presigned URL
    outputs_expire_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    flow_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("created_at", "started_at", "finished_at", "outputs_expire_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out


class JobService:
    """Built by an entry point with its settings and ledger; the store opens on first use."""

    def __init__(
        self, settings: Settings, ledger: JobLedger, store: ArtifactStore | None = None
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self._store = store

    @property
    def store(self) -> ArtifactStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    # -- submit ------------------------------------------------------------------------------

    def check(self, request: JobRequest) -> Preflight:
        """Preflight ``request`` (validated fields, source location, size, kind)."""
        return preflight(request, self.settings, self.store)

    def deployment_for(self, kind: JobKind) -> str:
        cfg = self.settings.prefect
        return cfg.media_deployment if kind == JobKind.MEDIA else cfg.document_deployment

    def submit(
        self,
        request: JobRequest,
        *,
        client: str,
        deployment: str | None = None,
        idempotency_key: str | None = None,
        digest: str | None = None,
        job_variables: dict[str, Any] | None = None,
        checked: Preflight | None = None,
        priority: str = "normal",
        **fields: Any,
    ) -> Submission:
        """Queue ``request`` as a flow run; returns its ledger row (QUEUED, bound to the run)."""
        if idempotency_key is not None:
            previous = self.ledger.find_idempotent(client, idempotency_key)
            if previous is not None:
                if digest is not None and previous.request_digest != digest:
                    raise IdempotencyConflict(
                        f"the Idempotency-Key {idempotency_key[:64]!r} was used with another "
                        "request; use a new key for a new request"
                    )
                return Submission(previous, created=False)
        if priority not in prefect.PRIORITY_QUEUES:
            choices = ", ".join(prefect.PRIORITY_QUEUES)
            raise InputInvalid(f"priority {priority[:20]!r} is not one of {choices}")
        checked = checked or self.check(request)
        job_id = checked.request.job_id or uuid.uuid4().hex
        if self.ledger.get(job_id) is not None:
            raise JobIdTaken(f"job id {job_id} is already taken; choose another id")
        request = checked.request.model_copy(
            update={"job_id": job_id, "kind": checked.kind, "client": client}
        )
        deployment = deployment or self.deployment_for(checked.kind)
        variables = dict(job_variables or {})
        if prefect.deployment_pool_type(deployment) == "docker":
            variables.update(docker_job_variables(effective_limits(request.limits, self.settings)))
        queue, _ = prefect.PRIORITY_QUEUES[priority]
        run_id = prefect.create_flow_run(
            deployment,
            {"request": request.model_dump(mode="json")},
            idempotency_key=job_id,
            job_variables=variables,
            tags=["reelflow", f"client:{client}"[:100], f"priority:{priority}"],
            work_queue_name=queue,
        )
        try:
            job = self.ledger.claim_job(
                job_id,
                flow_run_id=str(run_id),
                source=request.source,
                kind=checked.kind.value,
                preset=request.preset,
                client=client,
                deployment=deployment,
                idempotency_key=idempotency_key,
                request_digest=digest,
                priority=prefect.PRIORITY_QUEUES[priority][1],
                **fields,
            )
        except JobIdTaken:
            prefect.cancel_flow_run(str(run_id), f"[job_id_taken] job id {job_id} is taken")
            raise
        except ReelflowError:
            log.exception("flow run %s is queued, but its ledger row could not be written", run_id)
            raise
        return Submission(job, created=True)

    # -- read ---------------------------------------------------------------------------------

    def get(self, job_id: str, *, client: str | None = None) -> Job:
        """The job, or NotFound (also for another client's job) / JobDeleted."""
        job = self.ledger.get(job_id)
        if job is None or (client is not None and job.client != client):
            raise NotFound(f"no job {job_id}")
        if job.deleted_at is not None:
            raise JobDeleted(f"job {job_id} was deleted at {job.deleted_at:%Y-%m-%d %H:%M} UTC")
        return job

    def view(self, job: Job, *, presign: bool = True) -> JobView:
        """The status document of ``job``: hint, error, outputs as presigned URLs."""
        outputs: dict[str, str] = {}
        expires = None
        if presign and job.status == JobStatus.SUCCEEDED and job.artifacts:
            expiry_s = self.settings.storage.presign_expiry_s
            for name, key in sorted(job.artifacts.items()):
                if isinstance(key, str):
                    outputs[name] = self.store.url_for(key, expiry_s)
            expires = datetime.now().astimezone() + timedelta(seconds=expiry_s)
        error = None
        if job.status in (JobStatus.FAILED, JobStatus.CANCELED) and job.error_code:
            error = {"code": job.error_code, "message": job.error_message}
        return JobView(
            id=job.id,
            status=job.status,
            kind=job.kind,
            stage=job.stage,
            progress=job.progress,
            status_hint=self.hint(job),
            error=error,
            client=job.client,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            outputs=outputs,
            outputs_expire_at=expires,
            metadata=job.client_metadata,
            usage=job.usage,
            flow_run_id=job.flow_run_id,
        )

    def hint(self, job: Job) -> str:
        """A human explanation of where the job is, waiting included."""
        if job.status == JobStatus.QUEUED:
            ahead = self.ledger.queued_ahead_of(job)
            if ahead:
                return f"{ahead} job{'s' if ahead != 1 else ''} ahead of this one"
            return "waiting for a worker to start it"
        if job.status == JobStatus.RUNNING:
            stage = job.stage or "starting"
            return f"{stage}, {job.progress or 0:.0f} %"
        if job.status == JobStatus.SUCCEEDED:
            return "done"
        if job.status == JobStatus.CANCELED:
            return "canceled"
        return f"failed: {job.error_code or 'internal_error'}"

    # -- cancel / delete ------------------------------------------------------------------------

    def cancel(self, job_id: str, *, client: str | None = None) -> bool:
        """Cancel ``job_id``; True if this call canceled it, False if it was already terminal."""
        job = self.get(job_id, client=client)
        changed = self.ledger.mark_canceled(job_id, "canceled by request")
        if job.flow_run_id and job.status not in TERMINAL:
            prefect.cancel_flow_run(job.flow_run_id, f"[user_canceled] job {job_id} canceled")
        return changed

    def delete(self, job_id: str, *, by: str, client: str | None = None) -> None:
        """Cancel if active, delete outputs, scratch, inbox and work folder; keep an audit row."""
        job = self.get(job_id, client=client)
        if job.status not in TERMINAL:
            self.cancel(job_id, client=client)
        delete_job_objects(self.store, job_id, (Area.JOBS, Area.SCRATCH, Area.INBOX))
        remove_work_dir(self.settings.work_dir_root, job_id)
        self.ledger.mark_deleted(job_id, by)
        log.info("job %s deleted by %s", job_id, by)
