"""The S3 server goes away during a job: a short outage is retried, a long one fails cleanly."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.document_job import document_job
from infra.jobs.models import JobRequest
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tests.conftest import free_port
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.ledgers import ledger
from tests.support.tools import stage_run_count

pytestmark = [pytest.mark.prefect, pytest.mark.media, pytest.mark.s3]


class FlakyS3:
    """A moto S3 server of this test's own, which the test stops and starts."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.make = lambda: ThreadedMotoServer(
            ip_address="127.0.0.1", port=self.port, verbose=False
        )
        self.server = self.make()
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = self.make()
        self.server.start()


@pytest.fixture()
def flaky_s3(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyS3]:
    s3 = FlakyS3()
    monkeypatch.setenv("REELFLOW_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_ENDPOINT", f"127.0.0.1:{s3.port}")
    monkeypatch.setenv("REELFLOW_STORAGE__BUCKET", f"outage-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_ACCESS_KEY", "testing")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_SECRET_KEY", "testing")
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_BACKOFF_S", "2")
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_JITTER", "0")
    get_settings.cache_clear()
    open_store(get_settings())  # the bucket exists before the outage
    try:
        yield s3
    finally:
        s3.stop()


def _stop_when(s3: FlakyS3, stage: str, restart_after_s: float | None) -> threading.Thread:
    """Stop the server once any job reaches ``stage``; start it again after a while."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = ledger().list_jobs(limit=1)
            if jobs and jobs[0].stage == stage:
                break
            time.sleep(0.01)
        s3.stop()
        if restart_after_s is not None:
            time.sleep(restart_after_s)
            s3.start()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _doc(tmp_path: Path) -> str:
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    return str(source)


def test_short_outage_is_retried_and_the_job_succeeds(
    prefect_server: str, flaky_s3: FlakyS3, tmp_path: Path
):
    # Down from the start of the render until shortly after the first upload attempt failed.
    watcher = _stop_when(flaky_s3, "render", restart_after_s=2.5)
    state = document_job(JobRequest(source=_doc(tmp_path), preset="tiny"), return_state=True)
    watcher.join(10)
    assert state.is_completed(), state.message
    assert stage_run_count(state.state_details.flow_run_id, "upload") == 2  # one retry
    job_id = state.result().job_id
    assert ledger().get(job_id).status == "SUCCEEDED"
    assert open_store(get_settings()).exists(f"jobs/{job_id}/manifest.json")


def test_long_outage_fails_storage_unavailable_with_nothing_committed(
    prefect_server: str, flaky_s3: FlakyS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REELFLOW_STAGES__RETRIES", "1")
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_BACKOFF_S", "0.5")
    get_settings.cache_clear()
    watcher = _stop_when(flaky_s3, "render", restart_after_s=None)
    state = document_job(JobRequest(source=_doc(tmp_path), preset="tiny"), return_state=True)
    watcher.join(10)
    assert state.is_failed() and "[storage_unavailable]" in state.message
    job = ledger().list_jobs()[0]
    assert (job.status, job.error_code, job.stage) == ("FAILED", "storage_unavailable", "upload")
    assert (
        stage_run_count(state.state_details.flow_run_id, "upload") == 2
    )  # tried, retried, gave up
    flaky_s3.start()
    assert open_store(get_settings()).list_keys(f"jobs/{job.id}/") == []
    assert not (get_settings().work_dir_root / job.id).exists()
