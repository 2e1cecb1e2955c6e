"""Register the deployments of prefect.yaml and bind every job deployment to the job limit.

``prefect deploy --all`` stops at the first deployment whose work pool is missing and registers
nothing after it, so bootstrap creates the pools first and deploys afterwards. The job limit
(``reelflow-jobs``) is attached to each job deployment as its deployment concurrency limit: a
worker cannot start a job run while the limit is full, and the run waits in Scheduled
("AwaitingConcurrencySlot") without any infrastructure created. Child runs (media chunks) belong
to other flows and never take a job slot, so a parent can never deadlock on its own children.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.errors import ConfigError

__all__ = ["JOB_FLOWS", "attach_job_limit", "deploy_all", "detach_job_limit"]

JOB_FLOWS = ("video-job", "media-job")


def deploy_all(
    project_dir: Path, timeout_s: float = 600, names: Sequence[str] | None = None
) -> None:
    """``prefect --no-prompt deploy --all`` from ``project_dir`` (where prefect.yaml is), or
    ``--name N ...`` for only the deployments ``names``."""
    from prefect.settings import get_current_settings

    if not (project_dir / "prefect.yaml").is_file():
        raise ConfigError(f"no prefect.yaml in {project_dir}; pass the project folder")
    api = get_current_settings().api
    env = dict(os.environ)
    if api.url:  # the API this process talks to (a profile or a test harness, not only the env)
        env["PREFECT_API_URL"] = str(api.url)
    if api.auth_string is not None:
        env["PREFECT_API_AUTH_STRING"] = api.auth_string.get_secret_value()
    which = ["--all"] if names is None else [arg for n in names for arg in ("--name", n)]
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", *which],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise ConfigError(f"prefect deploy {' '.join(which)} failed in {project_dir}:\n{tail}")


def _job_deployments(client: Any) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    job_flows = FlowFilter(name=FlowFilterName(any_=list(JOB_FLOWS)))
    return list(client.read_deployments(flow_filter=job_flows))


def detach_job_limit(client: Any) -> None:
    """Unbind the job deployments from the job limit before they are deployed again.

    Pitfall (Prefect 3.8.8): ``prefect deploy`` sends ``concurrency_limit: null``, and the server
    then *deletes* the concurrency limit bound to the deployment, i.e. the shared reelflow-jobs.
    Detached first, nothing is deleted; bootstrap binds them again afterwards.
    """
    for deployment in _job_deployments(client):
        response = client._client.patch(
            f"/deployments/{deployment.id}", json={"global_concurrency_limit_id": None}
        )
        response.raise_for_status()


def attach_job_limit(client: Any, limit_name: str) -> list[str]:
    """Bind every deployment of the job flows to the global limit ``limit_name``; their names."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    limit = client.read_global_concurrency_limit_by_name(limit_name)
    flows = {
        f.id: f.name
        for f in client.read_flows(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(JOB_FLOWS)))
        )
    }
    attached = []
    for deployment in client.read_deployments(
        flow_filter=FlowFilter(name=FlowFilterName(any_=list(JOB_FLOWS)))
    ):
        # The client's models lack the field; the server's PATCH accepts it.
        response = client._client.patch(
            f"/deployments/{deployment.id}",
            json={"global_concurrency_limit_id": str(limit.id)},
        )
        response.raise_for_status()
        attached.append(f"{flows.get(deployment.flow_id, '?')}/{deployment.name}")
    return sorted(attached)
