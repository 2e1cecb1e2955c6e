"""Submit a job to a deployment through Prefect's API, with its limits mapped for the pool.

For a Docker work pool the job's effective limits become container job variables (memory, swap,
CPU quota) so the kernel enforces them; every other pool relies on the in-process watchdog.
"""

from __future__ import annotations

from uuid import UUID

from infra.limits import docker_job_variables, effective_limits
from infra.models import JobRequest
from infra.settings import Settings

__all__ = ["submit_job"]


def submit_job(request: JobRequest, deployment: str, settings: Settings) -> UUID:
    """Create a flow run of ``deployment`` ("flow/deployment") for ``request``; returns its id."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        pool_type = (
            client.read_work_pool(found.work_pool_name).type if found.work_pool_name else None
        )
    job_variables = (
        docker_job_variables(effective_limits(request.limits, settings))
        if pool_type == "docker"
        else {}
    )
    run = run_deployment(
        deployment,
        parameters={"request": request.model_dump(mode="json")},
        job_variables=job_variables,
        timeout=0,
    )
    return run.id  # type: ignore[union-attr]
