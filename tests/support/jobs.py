"""The job service of the current test settings: submit and cancel as the CLI and the API do."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from infra.jobs.models import JobKind, JobRequest
from infra.jobs.preflight import Preflight
from infra.jobs.service import JobService
from infra.jobs.validation import validate_request
from infra.settings import get_settings
from tests.support.ledgers import ledger

__all__ = ["cancel", "job_service", "submit"]


def job_service() -> JobService:
    return JobService(get_settings(), ledger())


def submit(
    request: JobRequest,
    deployment: str,
    *,
    job_variables: dict[str, Any] | None = None,
    check: bool = True,
    client: str = "tests",
) -> UUID:
    """Submit through the job service; the flow run id. ``check=False`` skips the preflight (a
    source only the worker can see, e.g. a path inside a job container)."""
    service = job_service()
    checked = None
    if not check:
        valid = validate_request(request, service.settings)
        kind = request.kind if request.kind != JobKind.AUTO else JobKind.DOCUMENT
        checked = Preflight(valid, kind, request.source.rsplit("/", 1)[-1], None)
    submitted = service.submit(
        request, client=client, deployment=deployment, job_variables=job_variables, checked=checked
    )
    assert submitted.job.flow_run_id is not None
    return UUID(submitted.job.flow_run_id)


def cancel(job_id: str) -> bool:
    return job_service().cancel(job_id)
