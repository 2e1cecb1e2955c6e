"""prefect.yaml's deployments: a snapshot of their topology, and their registration by bootstrap
against a real Prefect server (pools first, then every deployment, job deployments bound to the
job limit)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import yaml

from infra.jobs.models import JobLimits, JobRequest
from infra.prefect.bootstrap import JOB_CONCURRENCY_LIMIT, WORK_POOLS, bootstrap
from infra.prefect.deploy import JOB_FLOWS
from tests.support.jobs import submit
from tests.support.tools import ROOT

SNAPSHOT = ROOT / "tests" / "snapshots" / "deployments.json"


def _topology() -> dict[str, Any]:
    """What must not change by accident: names, entrypoints, pools, schedules, variables."""
    out = {}
    for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]:
        pool = d["work_pool"]
        variables = pool.get("job_variables") or {}
        out[d["name"]] = {
            "entrypoint": d["entrypoint"],
            "work_pool": pool["name"],
            "tags": sorted(d.get("tags", [])),
            "parameters": d.get("parameters", {}),
            "schedules": d.get("schedules", []),
            "job_variables": sorted(variables),
            "env": sorted(variables.get("env", {})),
            "pull": d.get("pull", []),
        }
    return out


def test_deployment_topology_matches_the_snapshot():
    """Set REELFLOW_UPDATE_SNAPSHOTS=1 to accept an intended change (then review the diff)."""
    topology = _topology()
    if os.environ.get("REELFLOW_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(topology, indent=2, sort_keys=True) + "\n")
    assert topology == json.loads(SNAPSHOT.read_text())
    for name, deployment in topology.items():
        assert deployment["work_pool"] in WORK_POOLS, name


@pytest.mark.prefect
def test_bootstrap_registers_every_deployment_after_its_pool(prefect_server: str, settings):
    from prefect.client.orchestration import get_client

    bootstrap(settings, project_dir=ROOT)
    report = bootstrap(settings, project_dir=ROOT)  # again: deploying again must keep the limit
    topology = _topology()
    with get_client(sync_client=True) as client:
        found = {}
        for name in topology:
            entry = topology[name]["entrypoint"].split(":")[1]
            flow_name = {
                "document_job": "video-job",
                "media_job": "media-job",
                "media_chunk": "media-chunk",
                "deliver_webhooks": "deliver-webhooks",
            }.get(entry, "reelflow-" + entry.replace("_", "-"))
            found[name] = client.read_deployment_by_name(f"{flow_name}/{name}")
        limit = client.read_global_concurrency_limit_by_name(JOB_CONCURRENCY_LIMIT)
        raw = {name: client._client.get(f"/deployments/{d.id}").json() for name, d in found.items()}
    for name, deployment in found.items():
        assert deployment.work_pool_name == topology[name]["work_pool"]
        assert deployment.entrypoint == topology[name]["entrypoint"]
        bound = (raw[name].get("global_concurrency_limit") or {}).get("id")
        is_job = deployment.entrypoint.startswith(("flows/document_job.py", "flows/media_job.py"))
        assert (bound == str(limit.id)) == is_job, name  # only job deployments take a job slot
        if topology[name]["schedules"]:
            assert all(s.active for s in deployment.schedules), name
    assert {f"video-job/{n}" for n in ("video-job-process", "video-job-docker")} <= set(
        report["limited_deployments"]
    )
    assert "video-job" in JOB_FLOWS
    for name in ("video-job-process", "video-job-docker"):
        schema = found[name].parameter_openapi_schema
        assert schema["required"] == ["request"]
        request = schema["definitions"]["JobRequest"]
        assert {"source", "kind", "preset", "voice", "language", "limits"} <= set(
            request["properties"]
        )
        assert request["required"] == ["source"]
        preset = request["properties"]["preset"]
        choices = [option.get("enum") for option in preset.get("anyOf", [preset])]
        assert ["hd", "sd", "tiny"] in choices  # the UI's form shows a select
        env = found[name].job_variables["env"]
        assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"  # the crash automation expects it
    docker = found["video-job-docker"].job_variables
    assert docker["mem_limit"] == docker["memswap_limit"]
    assert found["video-job-docker"].pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/reelflow"}}
    ]


@pytest.mark.prefect
def test_submit_maps_job_limits_to_docker_job_variables(prefect_server: str, settings):
    """The kernel-enforced path: a job's limits reach the container's job variables."""
    from prefect.client.orchestration import get_client

    bootstrap(settings, project_dir=ROOT)
    request = JobRequest(
        source="/data/in.pdf", limits=JobLimits(max_memory_mb=64, max_cpu_percent=50)
    )
    docker_run = submit(request, "video-job/video-job-docker", check=False)
    process_run = submit(
        request.model_copy(update={"job_id": "other"}), "video-job/video-job-process", check=False
    )
    with get_client(sync_client=True) as client:
        docker = client.read_flow_run(docker_run)
        process = client.read_flow_run(process_run)
    assert docker.job_variables["mem_limit"] == "64m"
    assert docker.job_variables["memswap_limit"] == "64m"
    assert docker.job_variables["nano_cpus"] == 500_000_000
    assert docker.parameters["request"]["limits"]["max_memory_mb"] == 64
    assert not process.job_variables  # the watchdog enforces limits there
