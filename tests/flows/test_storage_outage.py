"""The S3 server goes away during a job: a short outage is retried, a long one fails cleanly."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from flows.document_job import document_job
from infra.jobs.models import JobRequest
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tests.conftest import free_port
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.ledgers import ledger
from tests.support.tools import stage_run_count
from tests.support.waiting import wait_until

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


def _first_upload_failed(flow_run_id: str) -> bool:
    """Prefect has the job's upload waiting for its first retry: one attempt failed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
        )
    return any(r.name.startswith("upload") and r.state_name == "AwaitingRetry" for r in runs)


def _outage(
    s3: FlakyS3, stage: str, *, restore: bool
) -> tuple[threading.Thread, list[BaseException]]:
    """Stop the server once the job reaches ``stage``; when ``restore``, start it again once the
    first upload attempt has failed (not after a guessed delay). Errors of the watcher are kept
    for the test to raise."""
    errors: list[BaseException] = []

    def job_in_stage() -> str | None:
        jobs = ledger().list_jobs(limit=1)
        return jobs[0].flow_run_id if jobs and jobs[0].stage == stage else None

    def watch() -> None:
        try:
            flow_run_id = wait_until(job_in_stage, 60, f"the job to reach {stage}", poll=0.01)
            s3.stop()
            if restore:
                wait_until(
                    lambda: _first_upload_failed(flow_run_id),
                    120,
                    "the first failed upload attempt",
                    poll=0.1,
                )
                s3.start()
        except BaseException as exc:  # the test asserts there were none
            errors.append(exc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, errors


def _doc(tmp_path: Path) -> str:
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    return str(source)


def test_short_outage_is_retried_and_the_job_succeeds(
    prefect_server: str, flaky_s3: FlakyS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Down from the start of the render until the first upload attempt failed; the retry's
    # backoff (5 s, no jitter) leaves the watcher ample time to bring the server back.
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_BACKOFF_S", "5")
    get_settings.cache_clear()
    watcher, errors = _outage(flaky_s3, "render", restore=True)
    state = document_job(JobRequest(source=_doc(tmp_path), preset="tiny"), return_state=True)
    watcher.join(10)
    assert not watcher.is_alive() and not errors, errors
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
    watcher, errors = _outage(flaky_s3, "render", restore=False)
    state = document_job(JobRequest(source=_doc(tmp_path), preset="tiny"), return_state=True)
    watcher.join(10)
    assert not errors, errors
    # docs/ERRORS.md: the code starts the Failed state's message
    assert state.is_failed() and state.message.startswith("[storage_unavailable] ")
    job = ledger().list_jobs()[0]
    assert (job.status, job.error_code, job.stage) == ("FAILED", "storage_unavailable", "upload")
    assert (
        stage_run_count(state.state_details.flow_run_id, "upload") == 2
    )  # tried, retried, gave up
    flaky_s3.start()
    assert open_store(get_settings()).list_keys(f"jobs/{job.id}/") == []
    assert not (get_settings().work_dir_root / job.id).exists()
