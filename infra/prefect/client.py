"""Control jobs through Prefect's API: submit to a deployment, cancel.

Submit: for a Docker work pool the job's effective limits become container job variables (memory,
swap, CPU quota) so the kernel enforces them; every other pool relies on the in-process watchdog.
Cancel: the ledger turns CANCELED at once (the upload stage checks it before every object, so
nothing is uploaded after a cancel), then the flow run is set Cancelling, which makes its worker
stop the run; the cancellation hook removes the work directory and any uploaded object.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from infra.errors import InputInvalid
from infra.jobs.limits import docker_job_variables, effective_limits
from infra.jobs.models import JobRequest
from infra.settings import Settings
from infra.store.ledger import JobLedger, ledger_from

__all__ = ["cancel_job", "fail_flow_run", "submit_job"]

log = logging.getLogger("reelflow.control")


def submit_job(
    request: JobRequest,
    deployment: str,
    settings: Settings,
    ledger: JobLedger | None = None,
    job_variables: dict[str, Any] | None = None,
) -> UUID:
    """Create a flow run of ``deployment`` ("flow/deployment") for ``request``; returns its id.

    ``job_variables`` (e.g. env, volumes) are merged under the ones the job's limits give.
    The job's ledger row is written at once (QUEUED, with its flow run id), so a run that dies
    before its first stage (a container OOM-killed at start-up) still has a record the reaper
    can settle from Prefect's final state.
    """
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        pool_type = (
            client.read_work_pool(found.work_pool_name).type if found.work_pool_name else None
        )
    job_variables = {
        **(job_variables or {}),
        **(
            docker_job_variables(effective_limits(request.limits, settings))
            if pool_type == "docker"
            else {}
        ),
    }
    run = run_deployment(
        deployment,
        parameters={"request": request.model_dump(mode="json")},
        job_variables=job_variables,
        timeout=0,
    )
    run_id: UUID = run.id  # type: ignore[union-attr]
    try:
        (ledger or ledger_from(settings.ledger)).create_job(
            request.job_id or str(run_id),
            flow_run_id=str(run_id),
            source=request.source,
            kind=request.kind,
            preset=request.preset,
        )
    except Exception:  # the run is queued already: never make a caller submit it twice
        log.exception("flow run %s is queued, but its ledger row could not be written", run_id)
    return run_id


def cancel_job(job_id: str, ledger: JobLedger) -> bool:
    """Cancel ``job_id``; True if this call canceled it, False if it was already terminal."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    job = ledger.get(job_id)
    if job is None:
        raise InputInvalid(f"no job {job_id}")
    changed = ledger.mark_canceled(job_id, "canceled by request")
    if job.flow_run_id:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(job.flow_run_id))
            if (
                run.state is not None
                and not run.state.is_final()
                and not (run.state.is_cancelling())
            ):
                client.set_flow_run_state(
                    run.id, Cancelling(message=f"[user_canceled] job {job_id} canceled")
                )
    return changed


def fail_flow_run(flow_run_id: UUID | str, message: str) -> None:
    """Set a (Crashed) flow run Failed with ``message``, so Prefect shows the job's error code."""
    from prefect.client.orchestration import get_client
    from prefect.states import Failed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(str(flow_run_id)), Failed(message=message), force=True)
