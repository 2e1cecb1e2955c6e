"""`prefect deploy --all` against a real Prefect server registers both deployments as designed."""

from __future__ import annotations

import pytest

from tests.support.tools import prefect_cli

pytestmark = pytest.mark.prefect


def test_prefect_deploy_all_registers_both_deployments(prefect_server: str):
    for pool, kind in (("reelflow-process", "process"), ("reelflow-docker", "docker")):
        created = prefect_cli(
            "work-pool", "create", pool, "--type", kind, "--overwrite", api_url=prefect_server
        )
        assert created.returncode == 0, created.stdout + created.stderr
    deployed = prefect_cli("--no-prompt", "deploy", "--all", api_url=prefect_server)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        process = client.read_deployment_by_name("video-job/video-job-process")
        docker = client.read_deployment_by_name("video-job/video-job-docker")

    assert process.work_pool_name == "reelflow-process"
    assert docker.work_pool_name == "reelflow-docker"
    for deployment in (process, docker):
        assert deployment.entrypoint == "flows/document_job.py:document_job"
        schema = deployment.parameter_openapi_schema
        assert schema["required"] == ["request"]
        job_request = schema["definitions"]["JobRequest"]
        assert {"source", "kind", "preset", "voice", "language", "limits"} <= set(
            job_request["properties"]
        )
        assert job_request["required"] == ["source"]
        assert "JobLimits" in schema["definitions"]
    for deployment in (process, docker):  # heartbeats every 30 s: the crash automation relies on it
        assert deployment.job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    variables = docker.job_variables
    assert variables["image"] == "reelflow-worker:latest"
    assert variables["image_pull_policy"] == "Never"
    assert variables["network_mode"] == "host"
    assert variables["mem_limit"] == variables["memswap_limit"]
    with get_client(sync_client=True) as client:
        schedules = {
            name: client.read_deployment_by_name(f"{flow}/{name}").schedules
            for flow, name in (
                ("reelflow-reaper", "reaper"),
                ("reelflow-sweeper", "sweeper"),
                ("reelflow-retention", "retention"),
                ("reelflow-ledger-maintenance", "ledger-maintenance"),
            )
        }
    assert all(len(found) == 1 and found[0].active for found in schedules.values())
    assert docker.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/reelflow"}}
    ]


def test_submit_maps_job_limits_to_docker_job_variables(prefect_server: str, settings):
    """The kernel-enforced path: a job's limits reach the container's job variables."""
    from prefect.client.orchestration import get_client

    from infra.jobs.models import JobLimits, JobRequest
    from infra.prefect.client import submit_job

    for pool, kind in (("reelflow-process", "process"), ("reelflow-docker", "docker")):
        prefect_cli(
            "work-pool", "create", pool, "--type", kind, "--overwrite", api_url=prefect_server
        )
    deployed = prefect_cli("--no-prompt", "deploy", "--all", api_url=prefect_server)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    request = JobRequest(
        source="/data/in.pdf", limits=JobLimits(max_memory_mb=64, max_cpu_percent=50)
    )
    docker_run = submit_job(request, "video-job/video-job-docker", settings)
    process_run = submit_job(request, "video-job/video-job-process", settings)
    with get_client(sync_client=True) as client:
        docker = client.read_flow_run(docker_run)
        process = client.read_flow_run(process_run)
    assert docker.job_variables["mem_limit"] == "64m"
    assert docker.job_variables["memswap_limit"] == "64m"
    assert docker.job_variables["container_create_kwargs"] == {"nano_cpus": 500_000_000}
    assert docker.parameters["request"]["limits"]["max_memory_mb"] == 64
    assert "mem_limit" not in process.job_variables  # the watchdog enforces limits there
