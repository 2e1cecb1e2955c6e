"""The Docker work pool under test: the local engine, the worker image, a prefect-docker worker.

Job containers use host networking, so they reach the Prefect test server, moto's S3 server and
PostgreSQL on 127.0.0.1 exactly as the test process does. The input folder is bind-mounted
read-only at /input (a Docker job cannot see the caller's files otherwise).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.settings import Settings
from tests.support.tools import ROOT, pool_worker

IMAGE = "reelflow-worker:latest"
DIGEST_LABEL = "reelflow.source-digest"
# A secret that is not a placeholder: the job containers run with REELFLOW_ENV=production.
S3_SECRET = "reelflow-test-secret"
__all__ = [
    "IMAGE",
    "containers_of",
    "docker",
    "docker_job_variables",
    "docker_worker",
    "oom_events",
    "require_image",
]


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def require_image() -> None:
    """Fail (never skip) unless the engine answers and the image was built from this checkout."""
    if docker("info", "--format", "{{.ServerVersion}}").returncode != 0:
        pytest.fail("no Docker engine answers: run scripts/docker-engine.sh (make test does)")
    found = docker("image", "inspect", "--format", "{{json .Config.Labels}}", IMAGE)
    if found.returncode != 0:
        pytest.fail(f"{IMAGE} is missing: run make image (make test does)")
    labels = json.loads(found.stdout) or {}
    want = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "source_digest.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if labels.get(DIGEST_LABEL) != want:
        pytest.fail(
            f"{IMAGE} was built from source {labels.get(DIGEST_LABEL)}, the checkout is {want}: "
            "run make image (make test does)"
        )


def docker_job_variables(
    settings: Settings, ledger_url: str, input_dir: Path, **extra: Any
) -> dict[str, Any]:
    """Per-run job variables: the deployment's env for this test's bucket, ledger and input."""
    input_dir.chmod(0o755)  # the container's user (uid 10001) reads it
    for path in input_dir.iterdir():
        path.chmod(0o644)
    storage = settings.storage
    # Secrets as in production (prefect.yaml): files mounted read-only, named by *_FILE vars.
    secrets = input_dir.parent / "job-secrets"
    secrets.mkdir(exist_ok=True)
    secrets.chmod(0o755)
    for name, value in (
        ("s3_access_key", storage.s3_access_key),
        ("s3_secret_key", S3_SECRET),
        ("ledger_url", ledger_url),
    ):
        (secrets / name).write_text(value)
        (secrets / name).chmod(0o644)
    env = {
        "REELFLOW_ENV": "production",
        "REELFLOW_STORAGE__BACKEND": "s3",
        "REELFLOW_STORAGE__S3_ENDPOINT": storage.s3_endpoint,
        "REELFLOW_STORAGE__BUCKET": storage.bucket,
        "REELFLOW_STORAGE__S3_ACCESS_KEY_FILE": "/run/secrets/reelflow/s3_access_key",
        "REELFLOW_STORAGE__S3_SECRET_KEY_FILE": "/run/secrets/reelflow/s3_secret_key",
        "REELFLOW_LEDGER__URL_FILE": "/run/secrets/reelflow/ledger_url",
        "REELFLOW_LEDGER__HEARTBEAT_S": "2",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "reelflow",
    }
    volumes = [f"{input_dir}:/input:ro", f"{secrets}:/run/secrets/reelflow:ro"]
    return {"env": env, "volumes": volumes, **extra}


@contextlib.contextmanager
def docker_worker(api_url: str, log: Path) -> Iterator[subprocess.Popen]:
    """The reelflow-docker pool, the video-job-docker deployment and a Docker worker."""
    with pool_worker(api_url, "reelflow-docker", "docker", "video-job-docker", log=log) as worker:
        yield worker


def containers_of(flow_run_id: object, *, all_states: bool = True) -> list[str]:
    """Ids of the containers prefect-docker made for a flow run (by its label)."""
    args = ["ps", "-q", "--filter", f"label=io.prefect.flow-run-id={flow_run_id}"]
    found = docker(*(args + ["-a"] if all_states else args))
    assert found.returncode == 0, found.stderr
    return found.stdout.split()


def oom_events(flow_run_id: object, since: float) -> list[dict[str, Any]]:
    """The engine's ``oom`` events since ``since`` for the flow run's containers."""
    found = docker(
        "events",
        "--since",
        str(int(since) - 1),
        "--until",
        str(int(time.time()) + 1),
        "--filter",
        "event=oom",
        "--filter",
        f"label=io.prefect.flow-run-id={flow_run_id}",
        "--format",
        "{{json .}}",
    )
    assert found.returncode == 0, found.stderr
    return [json.loads(line) for line in found.stdout.splitlines() if line.strip()]
