"""The job scope and the stage runner: failures are recorded with their code and detail."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from infra.errors import ResourceLimitExceeded
from infra.jobs.models import JobKind, JobRequest
from infra.settings import Settings
from tasks.stage import job_scope
from tests.support.full_disk import tiny_tmpfs
from tests.support.ledgers import ledger


@pytest.mark.prefect
def test_a_full_work_disk_is_resource_limit_exceeded(
    prefect_server: str, settings: Settings, tmp_path: Path
):
    """Attack (issue 9, #11): ENOSPC during render surfaced as internal_error."""
    with tiny_tmpfs(tmp_path / "full") as full:
        with pytest.raises(ResourceLimitExceeded, match="work disk is full") as err:
            with job_scope(
                JobRequest(source="/x.md", job_id="disk-full"),
                kind=JobKind.DOCUMENT,
                flow_run_id=None,
                settings=settings,
                ledger=ledger(),
                description="test",
            ):
                (full / "big").write_bytes(b"x" * 2 * 1024 * 1024)  # a real ENOSPC
        assert isinstance(err.value.__cause__, OSError)
        assert err.value.__cause__.errno == errno.ENOSPC
    job = ledger().get("disk-full")
    assert (job.status, job.error_code) == ("FAILED", "resource_limit_exceeded")


@pytest.mark.prefect
@pytest.mark.postgres
def test_a_ledger_outage_at_a_stage_boundary_is_retried(
    prefect_server: str, settings: Settings, pg_url: str, tmp_path: Path, monkeypatch
):
    """Attack (issue 9, #13): a PostgreSQL outage failed the job at once. The ledger sits behind a
    link cut as the stage starts; the stage waits it out with the stage retry policy."""
    import threading

    from prefect import task

    from infra.jobs.stages import Stage
    from infra.settings import get_settings
    from infra.store.ledger import JobLedger
    from tasks.stage import run_stage
    from tests.support.flaky_link import FlakyLink

    @task(name="probe-noop")
    def noop() -> str:
        return "ran"

    link = FlakyLink("127.0.0.1:5432")
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_BACKOFF_S", "0.5")
    get_settings.cache_clear()
    ledger = JobLedger(pg_url.replace("127.0.0.1:5432", link.endpoint))
    try:
        with job_scope(
            JobRequest(source="/x.md", job_id="outage"),
            kind=JobKind.DOCUMENT,
            flow_run_id=None,
            settings=get_settings(),
            ledger=ledger,
            description="test",
        ) as ctx:
            link.cut()
            ledger.engine.dispose()  # the pool's connections died with the link
            result: list[str] = []
            runner = threading.Thread(
                target=lambda: result.append(run_stage(ctx, Stage.PROBE, noop))
            )
            runner.start()
            while link.refused == 0 and runner.is_alive():
                runner.join(0.05)
            link.restore()  # after the stage saw the outage
            runner.join(60)
            assert result == ["ran"]
        assert link.refused > 0
        job = ledger.get("outage")
        assert (job.status, job.stage) == ("RUNNING", "probe")
    finally:
        ledger.dispose()
        link.stop()
