"""The Docker work pool under test: the local engine, the worker image, a prefect-docker worker.

The pool gets the locked job template of `reelflow bootstrap`: host networking (the build
machines' engine has no bridge), so job containers reach the Prefect test server, moto's S3 server
and PostgreSQL on 127.0.0.1; the only mount is the read-only secrets folder; inputs are `s3://`
sources in the bucket's inbox (no volume mount).
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
    "job_secrets",
    "stage_source",
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


def job_secrets(settings: Settings, ledger_url: str, folder: Path) -> Path:
    """The job secrets folder, as compose's job-secrets writes it (files the container reads)."""
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)
    for name, value in (
        ("s3_access_key", settings.storage.s3_access_key),
        ("s3_secret_key", S3_SECRET),
        ("ledger_url", ledger_url),
    ):
        (folder / name).write_text(value)
        (folder / name).chmod(0o644)
    return folder


def docker_job_variables(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Per-run job variables: only env (and limits) pass the locked template. The bucket and the
    ledger of this test; the S3 endpoint and the Prefect API come from the pool's template."""
    env = {
        "REELFLOW_ENV": "production",
        "REELFLOW_STORAGE__BACKEND": "s3",
        "REELFLOW_STORAGE__BUCKET": settings.storage.bucket,
        "REELFLOW_STORAGE__S3_ACCESS_KEY_FILE": "/run/secrets/reelflow/s3_access_key",
        "REELFLOW_STORAGE__S3_SECRET_KEY_FILE": "/run/secrets/reelflow/s3_secret_key",
        "REELFLOW_LEDGER__URL_FILE": "/run/secrets/reelflow/ledger_url",
        "REELFLOW_LEDGER__HEARTBEAT_S": "2",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "reelflow",
    }
    return {"env": env, **extra}


def stage_source(settings: Settings, text: str, name: str = "doc.md") -> str:
    """Put a source in the bucket's inbox: a Docker job reads it with no volume mount."""
    import uuid

    from infra.store.artifacts import open_store

    key = f"inbox/{uuid.uuid4().hex}/{name}"
    open_store(settings).put_bytes(key, text.encode(), "text/markdown")
    return f"s3://{settings.storage.bucket}/{key}"


def ensure_docker_pool(api_url: str, settings: Settings, secrets: Path) -> None:
    """The reelflow-docker pool with the locked template reelflow bootstrap writes, for this
    Prefect server, S3 server and secrets folder (created, or its template replaced)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound

    from infra.prefect.docker_template import docker_base_job_template

    pool_settings = settings.model_copy(deep=True)
    pool_settings.docker.job_api_url = api_url
    pool_settings.docker.job_s3_endpoint = settings.storage.s3_endpoint
    pool_settings.docker.secrets_dir = secrets
    template = docker_base_job_template(pool_settings)
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool("reelflow-docker")
            client.update_work_pool("reelflow-docker", WorkPoolUpdate(base_job_template=template))
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(name="reelflow-docker", type="docker", base_job_template=template)
            )


@contextlib.contextmanager
def docker_worker(
    api_url: str, log: Path, settings: Settings, secrets: Path
) -> Iterator[subprocess.Popen]:
    """The reelflow-docker pool (:func:`ensure_docker_pool`), its deployment and a Docker
    worker."""
    ensure_docker_pool(api_url, settings, secrets)
    with pool_worker(
        api_url, "reelflow-docker", "docker", "video-job-docker", log=log, create_pool=False
    ) as worker:
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
