"""Upload: the manifest is the true last step (issue 9, #6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from infra.errors import LedgerUnavailable
from infra.jobs.models import JobKind, JobRequest, RenderOutputs
from infra.process.watchdog import JobWatchdog, Limits
from infra.settings import Settings
from infra.store.artifacts import open_store
from infra.store.ledger import JobLedger
from tasks.stage import JobContext
from tasks.upload import upload_stage


def _context(settings: Settings, ledger: JobLedger, job_id: str) -> JobContext:
    return JobContext(
        job_id=job_id,
        flow_run_id=None,
        kind=JobKind.DOCUMENT,
        settings=settings,
        ledger=ledger,
        guard=JobWatchdog(Limits(), settings.work_dir_root / job_id),
        progress_id=None,
    )


def _outputs(tmp_path: Path) -> RenderOutputs:
    files = {}
    for name in ("video.mp4", "captions.vtt"):
        (tmp_path / name).write_bytes(name.encode() * 100)
        files[name] = str(tmp_path / name)
    return RenderOutputs(
        files=files,
        outputs={"video": "video.mp4", "captions": "captions.vtt"},
        duration_s=1,
        narration_s=1,
        slide_durations_s=[1],
    )


def test_a_failure_after_the_commit_withdraws_the_manifest(settings: Settings, tmp_path: Path):
    """The ledger refuses to record the success (here: its database turned read-only after the
    objects were stored): the job must not end FAILED beside a committed manifest."""
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        ledger.claim_job("j-commit", flow_run_id=None)
        ledger.mark_running("j-commit", "upload")
        store = open_store(settings)

        @event.listens_for(ledger.engine, "connect")
        def read_only(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.execute("PRAGMA query_only=ON")

        ledger.engine.dispose()  # new connections only: reads work, writes fail
        with pytest.raises(LedgerUnavailable):
            upload_stage.fn(
                _context(settings, ledger, "j-commit"),
                _outputs(tmp_path),
                JobRequest(source="/x.md", preset="tiny"),
                "x.md",
            )
        assert store.list_keys("jobs/j-commit/") == []  # manifest first, then the objects
    finally:
        ledger.dispose()
