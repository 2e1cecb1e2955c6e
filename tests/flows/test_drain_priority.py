"""Operator controls on Prefect's own mechanisms (issue 15): drain a pool while its running job
finishes, and a high-priority job queued after low-priority ones starts first."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from infra.jobs.models import JobRequest
from infra.prefect.bootstrap import bootstrap
from infra.settings import Settings
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.jobs import job_service
from tests.support.ledgers import ledger
from tests.support.tools import LONG_DOC, ROOT, wait_for_run

pytestmark = [pytest.mark.prefect, pytest.mark.media, pytest.mark.timeout(420)]
POOL = "reelflow-process"
DEPLOYMENT = "video-job/video-job-process"
runner = CliRunner()


def _worker(api_url: str, limit: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process"]
        + ["--limit", str(limit)],
        cwd=ROOT,
        env={**os.environ, "PREFECT_API_URL": api_url, "PREFECT_WORKER_QUERY_SECONDS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _submit(tmp_path: Path, job_id: str, text: str, priority: str = "normal"):
    source = tmp_path / f"{job_id}.md"
    source.write_text(text)
    request = JobRequest(source=str(source), preset="tiny", job_id=job_id)
    submitted = job_service().submit(
        request, client="tests", deployment=DEPLOYMENT, priority=priority
    )
    return submitted.job.flow_run_id


def _state(run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state.name  # type: ignore[union-attr]


@pytest.fixture()
def deployed(prefect_server: str, settings: Settings):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    settings.prefect.job_concurrency = 100  # this test is about drain and priorities only
    bootstrap(settings, project_dir=ROOT)
    yield prefect_server
    runner.invoke(app, ["resume", POOL])
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectNotFound):
        client.update_global_concurrency_limit(
            "reelflow-jobs", GlobalConcurrencyLimitUpdate(limit=100)
        )


def test_drain_lets_the_running_job_finish_and_holds_the_queued_one(deployed, tmp_path: Path):
    worker = _worker(deployed, limit=2)
    try:
        running = _submit(tmp_path, "running-job", LONG_DOC)
        wait_for_run(running, 120, {"Running"})
        drained = runner.invoke(app, ["drain", POOL])
        assert drained.exit_code == 0, drained.output
        queued = _submit(tmp_path, "queued-job", SAMPLE_MARKDOWN)
        assert wait_for_run(running, 240).is_completed()  # the running job finished
        # Held: over several worker polls after the pool's only job ended, it never started.
        for _ in range(5):
            assert _state(queued) in {"Scheduled", "Late"}
            time.sleep(1)
        resumed = runner.invoke(app, ["resume", POOL])
        assert resumed.exit_code == 0, resumed.output
        assert wait_for_run(queued, 240).is_completed()
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_a_high_priority_job_starts_before_earlier_low_ones(deployed, tmp_path: Path):
    assert runner.invoke(app, ["drain", POOL]).exit_code == 0  # queue them all up first
    runs = {
        name: _submit(tmp_path, name, SAMPLE_MARKDOWN, priority)
        for name, priority in (("low-1", "low"), ("low-2", "low"), ("high-1", "high"))
    }
    worker = _worker(deployed, limit=1)  # one job at a time: the order is the dispatch order
    try:
        assert runner.invoke(app, ["resume", POOL]).exit_code == 0
        for run in runs.values():
            assert wait_for_run(run, 300).is_completed()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    started = {name: ledger().get(name).started_at for name in runs}
    assert started["high-1"] < started["low-1"] and started["high-1"] < started["low-2"]
