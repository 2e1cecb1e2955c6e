"""The job ledger on SQLite (WAL) and on a real PostgreSQL server: same code, same behaviour."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from infra.store.ledger import JobLedger, JobStatus


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> JobLedger:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    led = JobLedger(url, busy_timeout_ms=5000)
    led.create_schema()
    yield led
    led.dispose()


def test_lifecycle_and_terminal_states_never_change(ledger: JobLedger):
    ledger.create_job("j1", source="a.pdf", kind="document", preset="hd")
    assert ledger.get("j1").status == JobStatus.QUEUED
    assert ledger.mark_running("j1", "probe")
    assert ledger.mark_running("j1", "render")
    job = ledger.get("j1")
    assert (job.status, job.stage) == (JobStatus.RUNNING, "render")
    assert job.started_at is not None
    assert ledger.mark_failed("j1", "ffmpeg_failed", "boom")
    # Late writes after a terminal state are no-ops.
    assert not ledger.mark_succeeded("j1", {"video": "x"})
    assert not ledger.mark_canceled("j1")
    assert not ledger.mark_running("j1", "upload")
    job = ledger.get("j1")
    assert (job.status, job.error_code, job.error_message) == (
        JobStatus.FAILED,
        "ffmpeg_failed",
        "boom",
    )
    assert job.finished_at is not None


def test_create_is_idempotent_and_fills_missing_fields(ledger: JobLedger):
    ledger.create_job("j2")
    ledger.create_job("j2", flow_run_id="run-1", source="b.md")
    job = ledger.get("j2")
    assert (job.flow_run_id, job.source) == ("run-1", "b.md")
    assert [j.id for j in ledger.list_jobs()] == ["j2"]


def test_success_records_artifacts(ledger: JobLedger):
    ledger.create_job("j3")
    ledger.mark_running("j3", "upload")
    assert ledger.mark_succeeded("j3", {"video": "jobs/j3/video.mp4"})
    job = ledger.get("j3")
    assert job.status == JobStatus.SUCCEEDED
    assert job.artifacts == {"video": "jobs/j3/video.mp4"}
    assert ledger.list_jobs(status="SUCCEEDED")[0].id == "j3"


def test_sqlite_runs_in_wal_mode(tmp_path: Path):
    led = JobLedger(f"sqlite:///{tmp_path / 'wal.db'}")
    led.create_schema()
    with led.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    led.dispose()


def test_sqlite_concurrent_writers_never_see_locked(tmp_path: Path):
    """8 threads with their own engines hammer one SQLite file: no write may fail."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    JobLedger(url).create_schema()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        led = JobLedger(url, busy_timeout_ms=10_000)
        try:
            for i in range(25):
                job = f"w{n}-{i}"
                led.create_job(job)
                led.mark_running(job, "render")
                led.mark_succeeded(job, {"n": i})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            led.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = JobLedger(url)
    assert len(check.list_jobs(limit=1000, status="SUCCEEDED")) == 200
    check.dispose()


def test_ledger_from_an_earlier_build_gains_new_columns(ledger: JobLedger):
    """A jobs table without later columns (progress, heartbeat_at) keeps its rows and works."""
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE jobs")
        conn.exec_driver_sql(
            "CREATE TABLE jobs (id VARCHAR(64) PRIMARY KEY, flow_run_id VARCHAR(64), "
            "status VARCHAR(16), stage VARCHAR(32), kind VARCHAR(16), source TEXT, "
            "preset VARCHAR(32), input_sha256 VARCHAR(64), error_code VARCHAR(64), "
            "error_message TEXT, artifacts JSON, created_at TIMESTAMP, updated_at TIMESTAMP, "
            "started_at TIMESTAMP, finished_at TIMESTAMP)"
        )
        conn.exec_driver_sql("INSERT INTO jobs (id, status) VALUES ('old', 'SUCCEEDED')")
    ledger.create_schema()
    assert ledger.get("old").status == "SUCCEEDED"
    ledger.create_job("new")
    assert ledger.mark_running("new", "render")
    assert ledger.set_progress("new", 42) and ledger.touch("new")
    assert ledger.get("new").progress == 42.0
    ledger.create_schema()  # idempotent
