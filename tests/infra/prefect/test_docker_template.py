"""The Docker pool's locked job template: a run can set its limits and env, nothing else.

Attack (issue 9, #9): a flow run's job variables mounting / or asking for a privileged container
would be started by the worker, which holds docker.sock: root on the host.
"""

from __future__ import annotations

import asyncio

import pytest

from infra.prefect.docker_template import LOCKED_VARIABLES, docker_base_job_template
from infra.settings import Settings

HOSTILE = {
    "privileged": True,
    "volumes": ["/:/host"],
    "network_mode": "container:other",
    "networks": ["evil"],
    "image": "alpine",
    "image_pull_policy": "Always",
    "command": "sh -c 'cat /run/secrets/reelflow/*'",
    "cap_add": ["ALL"],
    "container_create_kwargs": {
        "privileged": True,
        "cap_add": ["ALL"],
        "pid_mode": "host",
        "mounts": [{"type": "bind", "source": "/", "target": "/host"}],
    },
    "container_create_kwargs.cap_add": ["SYS_ADMIN"],
}
LEGIT = {"mem_limit": "512m", "memswap_limit": "512m", "nano_cpus": 500_000_000, "env": {"X": "1"}}


@pytest.mark.prefect
def test_hostile_job_variables_are_ignored(prefect_server: str, settings: Settings):
    """What prefect-docker would pass to the engine, built from the template and the variables."""
    from prefect_docker.worker import DockerWorkerJobConfiguration

    template = docker_base_job_template(settings)
    config = asyncio.run(
        DockerWorkerJobConfiguration.from_template_and_values(template, {**HOSTILE, **LEGIT})
    )
    assert config.privileged is False
    assert config.volumes == [f"{settings.docker.secrets_dir}:/run/secrets/reelflow:ro"]
    assert (config.network_mode, config.networks) == ("host", [])
    assert (config.image, config.image_pull_policy) == ("reelflow-worker:latest", "Never")
    assert config.command is None
    assert config.container_create_kwargs == {"nano_cpus": 500_000_000}  # nothing else passes
    assert (config.mem_limit, config.memswap_limit) == ("512m", "512m")
    assert config.env["X"] == "1"
    assert config.env["PREFECT_API_URL"] == settings.docker.job_api_url


@pytest.mark.prefect
def test_defaults_are_the_operators_limits(prefect_server: str, settings: Settings):
    from prefect_docker.worker import DockerWorkerJobConfiguration

    config = asyncio.run(
        DockerWorkerJobConfiguration.from_template_and_values(
            docker_base_job_template(settings), {}
        )
    )
    assert config.mem_limit == f"{settings.limits.max_memory_mb}m"
    assert config.container_create_kwargs == {"nano_cpus": 2_000_000_000}


@pytest.mark.prefect
@pytest.mark.parametrize("hostile", sorted(set(HOSTILE) - {"container_create_kwargs.cap_add"}))
def test_prefects_api_refuses_a_run_asking_for_more(
    prefect_server: str, settings: Settings, hostile
):
    """A flow run (or deployment) with any other job variable is refused with 422."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError

    @flow(name="locked-template-probe")
    def probe() -> None:
        pass

    with get_client(sync_client=True) as client:
        template = docker_base_job_template(settings)
        try:
            client.create_work_pool(
                WorkPoolCreate(name="locked-docker", type="docker", base_job_template=template)
            )
        except ObjectAlreadyExists:
            pass
        flow_id = client.create_flow(probe)
        deployment_id = client.create_deployment(
            flow_id=flow_id, name="locked", work_pool_name="locked-docker"
        )
        allowed = client.create_flow_run_from_deployment(deployment_id, job_variables=LEGIT)
        assert allowed.job_variables == LEGIT
        with pytest.raises(PrefectHTTPStatusError) as refused:
            client.create_flow_run_from_deployment(
                deployment_id, job_variables={hostile: HOSTILE[hostile]}
            )
        assert refused.value.response.status_code == 422
    assert set(LEGIT) <= set(LOCKED_VARIABLES)
