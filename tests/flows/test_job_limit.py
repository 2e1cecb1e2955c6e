"""The reelflow-jobs limit holds across a worker that could take more (issue 9, #7).

Six jobs once ran five at a time with the limit at 4: the limit was created but never acquired.
Now every job deployment is bound to it (bootstrap), so a worker with room for three runs still
starts one job at a time when the limit is 1, and the second waits in Scheduled
("AwaitingConcurrencySlot") without any infrastructure started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.jobs.models import JobRequest
from infra.prefect.bootstrap import JOB_CONCURRENCY_LIMIT, bootstrap
from infra.settings import Settings
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.jobs import submit
from tests.support.ledgers import ledger
from tests.support.tools import ROOT, wait_for_run

pytestmark = [pytest.mark.prefect, pytest.mark.media, pytest.mark.timeout(300)]


def test_jobs_never_exceed_the_job_limit(prefect_server: str, settings: Settings, tmp_path: Path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    settings.prefect.job_concurrency = 1
    bootstrap(settings, project_dir=ROOT)
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "reelflow-process"]
        + ["--type", "process", "--limit", "3"],
        cwd=ROOT,
        env={**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_WORKER_QUERY_SECONDS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        runs = []
        for i in range(2):
            source = tmp_path / f"doc{i}.md"
            source.write_text(SAMPLE_MARKDOWN)
            request = JobRequest(source=str(source), preset="tiny", job_id=f"limited-{i}")
            runs.append(submit(request, "video-job/video-job-process"))
        states = [wait_for_run(run, 240) for run in runs]
        assert [s.name for s in states] == ["Completed", "Completed"]
        with get_client(sync_client=True) as client:
            waited = [
                any(s.name == "AwaitingConcurrencySlot" for s in client.read_flow_run_states(run))
                for run in runs
            ]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        with get_client(sync_client=True) as client:  # other tests share this server
            client.update_global_concurrency_limit(
                JOB_CONCURRENCY_LIMIT, GlobalConcurrencyLimitUpdate(limit=100)
            )
    jobs = sorted((ledger().get(f"limited-{i}") for i in range(2)), key=lambda j: j.started_at)
    assert all(j.status == "SUCCEEDED" for j in jobs)
    assert jobs[0].finished_at <= jobs[1].started_at  # never two at once
    assert any(waited)  # the second one waited for the slot, queued, not failed
