"""Jobs on the Docker work pool: a real Prefect server, a real prefect-docker worker, the locally
built reelflow-worker image on the local engine, moto's S3 server and PostgreSQL on 127.0.0.1.

Each test records its timings as JUnit properties (`pytest -rA` shows them); docs/PERFORMANCE.md
has the numbers and benchmarks/docker_pool.py measures them side by side.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from infra.jobs.models import JobLimits, JobRequest
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tasks.maintenance import reap_jobs
from tests.support.delivery import assert_delivered
from tests.support.docker_pool import (
    containers_of,
    docker,
    docker_job_variables,
    docker_worker,
    job_secrets,
    oom_events,
    require_image,
    stage_source,
)
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.jobs import cancel, submit
from tests.support.ledgers import ledger
from tests.support.tools import LONG_DOC, encoder_of, wait_for_run
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.docker,
    pytest.mark.prefect,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.media,
    pytest.mark.timeout(300),
]
DEPLOYMENT = "video-job/video-job-docker"
# Prefect's executor and engine fit in it (about 250 MB), a 20-slide hd encode does not.
OOM_MID_RENDER_MB = 400


@pytest.fixture()
def pool(
    prefect_server: str,
    s3_settings: Settings,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """A Docker worker, and settings shared by this test and its job containers."""
    require_image()
    monkeypatch.setenv("REELFLOW_LEDGER__URL", pg_url)
    get_settings.cache_clear()
    settings = get_settings()
    secrets = job_secrets(settings, pg_url, tmp_path / "job-secrets")
    log = tmp_path / "worker.log"
    with docker_worker(prefect_server, log, settings, secrets) as worker:
        yield settings, None, pg_url, worker
    print(log.read_text()[-4000:])  # noqa: T201 - shown by pytest only when the test fails


def _submit(pool, text: str, preset: str = "tiny", **limits: int):
    """Submit through the job service with an s3:// source: no volume mount (issue 11)."""
    settings = pool[0]
    request = JobRequest(
        source=stage_source(settings, text), preset=preset, limits=JobLimits(**limits)
    )
    run_id = submit(request, DEPLOYMENT, job_variables=docker_job_variables(settings))
    return run_id, ledger().list_jobs(limit=1)[0].id


def _seconds_to(run_id, name: str, timeout_s: float = 120) -> float:
    """Seconds until the run is in state ``name`` (it must not end elsewhere first)."""
    start = time.monotonic()
    state = wait_for_run(run_id, timeout_s, {name})
    assert state.name == name, state
    return time.monotonic() - start


def _wait_gone(run_id, timeout_s: float = 30) -> None:
    wait_until(lambda: not containers_of(run_id), timeout_s, f"the container of {run_id} to go")


def test_document_job_runs_in_a_container(pool, tmp_path: Path, record_property):
    settings = pool[0]
    created = time.monotonic()
    run_id, job_id = _submit(pool, SAMPLE_MARKDOWN)
    assert ledger().get(job_id).status == "QUEUED"  # the row exists from submission
    to_running = _seconds_to(run_id, "Running")
    state = wait_for_run(run_id, 180)
    to_completed = time.monotonic() - created
    assert state.is_completed(), state.message
    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("SUCCEEDED", None)
    assert_delivered(job_id, settings, tmp_path)
    _wait_gone(run_id)
    record_property("created_to_running_s", round(to_running, 2))
    record_property("created_to_completed_s", round(to_completed, 2))


def test_cancel_stops_the_container_and_removes_everything(pool, record_property):
    settings = pool[0]
    run_id, job_id = _submit(pool, LONG_DOC, preset="hd")
    # ffmpeg in the container, seen from the host
    encoder = wait_until(lambda: encoder_of(job_id), 120, "the job's encode", poll=0.1)
    # The job container as the locked template made it (issue 9, #9).
    (container,) = containers_of(run_id, all_states=False)
    inspected = docker("inspect", "--format", "{{json .HostConfig}}", container)
    import json

    host = json.loads(inspected.stdout)
    assert host["Privileged"] is False and not host["CapAdd"]
    assert host["Binds"] == [f"{settings.home.parent / 'job-secrets'}:/run/secrets/reelflow:ro"]
    assert host["NetworkMode"] == "host"

    requested = time.monotonic()
    assert cancel(job_id)
    assert ledger().get(job_id).status == "CANCELED"  # at once, before the run stops
    state = wait_for_run(run_id, 90)
    cancel_s = time.monotonic() - requested
    assert state.name == "Cancelled", state
    encoder.wait(timeout=10)
    _wait_gone(run_id)
    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("CANCELED", "user_canceled")
    assert open_store(settings).list_keys(f"jobs/{job_id}/") == []
    assert not cancel(job_id)  # a second cancel is a no-op
    record_property("cancel_to_cancelled_s", round(cancel_s, 2))


def test_memory_limit_below_need_fails_with_its_code(pool, monkeypatch: pytest.MonkeyPatch):
    """64 MB cannot hold the job process: the kernel OOM-kills it; the run is Failed with
    ``resource_limit_exceeded`` (not a bare Crashed), and so is the ledger once reaped."""
    started = time.time()
    run_id, job_id = _submit(pool, SAMPLE_MARKDOWN, max_memory_mb=64)
    state = wait_for_run(run_id, 180)
    assert state.name == "Failed", state
    assert state.message.startswith("[resource_limit_exceeded]"), state.message
    assert "64 MB" in state.message
    assert oom_events(run_id, started), "the engine reported no OOM kill"
    _wait_gone(run_id)

    monkeypatch.setenv("REELFLOW_MAINTENANCE__REAPER_STALE_S", "0")
    get_settings.cache_clear()
    assert job_id in reap_jobs(ledger(), get_settings())["failed"]
    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("FAILED", "resource_limit_exceeded")


def test_killed_worker_leaves_no_stuck_run_or_container(pool, tmp_path: Path):
    settings, worker = pool[0], pool[3]
    from prefect.client.orchestration import get_client

    run_id, job_id = _submit(pool, SAMPLE_MARKDOWN)
    _seconds_to(run_id, "Running")
    assert containers_of(run_id, all_states=False)
    os.killpg(worker.pid, signal.SIGKILL)  # this test's worker only (its own session)
    worker.wait(timeout=10)
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).state.name == "Running"
    state = wait_for_run(run_id, 180)  # the container carries the job on without its worker
    assert state.is_completed(), state.message
    assert ledger().get(job_id).status == "SUCCEEDED"
    assert_delivered(job_id, settings, tmp_path)
    _wait_gone(run_id)  # auto_remove: the container went with its exit


def test_oom_during_render_fails_with_its_code(
    pool, monkeypatch: pytest.MonkeyPatch, record_property
):
    """The executor and engine fit, the hd encode does not: whichever process the kernel kills,
    the run ends Failed ``resource_limit_exceeded`` and so does the ledger."""
    started = time.time()
    run_id, job_id = _submit(pool, LONG_DOC, preset="hd", max_memory_mb=OOM_MID_RENDER_MB)
    state = wait_for_run(run_id, 180)
    job = ledger().get(job_id)
    if job.status != "FAILED":  # the executor itself died: the supervisor told Prefect
        monkeypatch.setenv("REELFLOW_MAINTENANCE__REAPER_STALE_S", "0")
        get_settings.cache_clear()
        reap_jobs(ledger(), get_settings())
        job = ledger().get(job_id)
    assert oom_events(run_id, started), "the engine reported no OOM kill"
    assert state.name == "Failed", state
    assert "[resource_limit_exceeded]" in state.message, state.message
    assert job.stage == "render"
    assert (job.status, job.error_code) == ("FAILED", "resource_limit_exceeded")
    record_property("oom_message", job.error_message)
    assert open_store(pool[0]).list_keys(f"jobs/{job_id}/") == []
    _wait_gone(run_id)
