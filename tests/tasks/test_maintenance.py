"""Reaper, sweeper, retention and ledger maintenance on real stores and a real Prefect server."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from infra.settings import Settings
from infra.store.artifacts import open_store
from infra.store.ledger import JobLedger
from tasks.maintenance import enforce_retention, reap_jobs, sweep
from tests.support.ledgers import ledger

OLD = time.time() - 3 * 86400


def _flow_run(state_name: str, message: str | None = None) -> str:
    """A real flow run on the Prefect server, forced into ``state_name``."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import State, StateType

    @flow(name="reaper-fixture")
    def fixture_flow() -> None:
        return None

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(fixture_flow)
        state_type = {
            "Crashed": StateType.CRASHED,
            "Running": StateType.RUNNING,
            "Cancelled": StateType.CANCELLED,
            "Failed": StateType.FAILED,
            "Scheduled": StateType.SCHEDULED,
        }[state_name]
        state = State(type=state_type, name=state_name, message=message)
        client.set_flow_run_state(run.id, state, force=True)
    return str(run.id)


@pytest.mark.prefect
def test_reaper_fails_jobs_whose_runs_died(prefect_server: str, settings: Settings):
    jobs = ledger()
    cases = {
        "crashed": _flow_run("Crashed"),
        "running": _flow_run("Running"),
        "cancelled": _flow_run("Cancelled"),
        "gone": "00000000-0000-0000-0000-000000000000",
        "fresh": _flow_run("Crashed"),
    }
    for job_id, run_id in cases.items():
        jobs.claim_job(job_id, flow_run_id=run_id)
        jobs.mark_running(job_id, "render")
    later = datetime.now(UTC) + timedelta(seconds=settings.maintenance.reaper_stale_s + 5)
    jobs.touch("fresh")
    report = reap_jobs(jobs, settings, now=later)
    # "fresh" beat just now, but "later" is past its stale window too: beat again in the window.
    assert set(report["failed"]) >= {"crashed", "gone"}
    assert report["canceled"] == ["cancelled"]
    assert "running" in report["alive"]  # Prefect says Running and it is not yet dead
    assert (jobs.get("crashed").status, jobs.get("crashed").error_code) == (
        "FAILED",
        "worker_timeout",
    )
    assert jobs.get("gone").error_code == "worker_timeout"
    assert jobs.get("cancelled").status == "CANCELED"
    # Silent past the dead-after window: reaped whatever Prefect says.
    much_later = datetime.now(UTC) + timedelta(seconds=settings.maintenance.reaper_dead_after_s + 5)
    assert "running" in reap_jobs(jobs, settings, now=much_later)["failed"]
    # A job that beats within the window is left alone.
    jobs.claim_job("alive", flow_run_id=cases["running"])
    jobs.mark_running("alive", "render", heartbeat_at=datetime.now(UTC))
    assert reap_jobs(jobs, settings)["alive"] == ["alive"]


@pytest.mark.prefect
def test_reaper_takes_the_code_from_prefects_final_state(prefect_server: str, settings: Settings):
    """A run failed from outside the job (the container supervisor after an OOM kill) carries
    its code in the state message; a QUEUED job whose run still waits is never reaped."""
    jobs = ledger()
    oom = "[resource_limit_exceeded] the job's container reached its memory limit of 64 MB"
    jobs.claim_job("oom", flow_run_id=_flow_run("Failed", oom))
    jobs.claim_job("waiting", flow_run_id=_flow_run("Scheduled"))
    jobs.claim_job("crashed", flow_run_id=_flow_run("Crashed", "exit code 137"))
    jobs.claim_job("lost-before-probe", flow_run_id=_flow_run("Running"))  # host died early
    much_later = datetime.now(UTC) + timedelta(seconds=settings.maintenance.reaper_dead_after_s + 5)
    report = reap_jobs(jobs, settings, now=much_later)
    assert sorted(report["failed"]) == ["crashed", "lost-before-probe", "oom"]
    assert report["alive"] == ["waiting"]
    assert jobs.get("oom").error_code == "resource_limit_exceeded"
    assert "64 MB" in jobs.get("oom").error_message
    assert jobs.get("crashed").error_code == "worker_timeout"  # no code in Prefect's message
    assert jobs.get("waiting").status == "QUEUED"


def _old(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        os.utime(item, (OLD, OLD))


@pytest.mark.parametrize("store_kind", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_sweeper(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path):
    settings = request.getfixturevalue("settings" if store_kind == "local" else "s3_settings")
    settings.maintenance.sweep_grace_s = 0 if store_kind == "s3" else 3600  # moto's clock is now
    store, jobs = open_store(settings), ledger()
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 10)
    work = settings.work_dir_root
    for job_id, status in [
        ("done", "SUCCEEDED"),
        ("failed", "FAILED"),
        ("running", "RUNNING"),
        ("lost", "SUCCEEDED"),
    ]:
        jobs.claim_job(job_id, flow_run_id=None)
        jobs.mark_running(job_id, "upload")
        if status == "SUCCEEDED":
            jobs.mark_succeeded(job_id, {"video": f"jobs/{job_id}/video.mp4"})
        elif status == "FAILED":
            jobs.mark_failed(job_id, "ffmpeg_failed", "x")
        (work / job_id).mkdir(parents=True)
    (work / "unknown").mkdir()
    (work / "not.a.job").mkdir()  # a name that is no job id: never removed
    for job_id in ("done", "failed", "running", "orphan"):
        store.put_file(f"jobs/{job_id}/video.mp4", src)
    for job_id in ("done", "orphan"):
        store.put_bytes(f"jobs/{job_id}/manifest.json", b"{}", "application/json")
    if store_kind == "local":
        _old(Path(settings.storage.local_root))
        _old(work / "unknown")

    dry = sweep(jobs, store, settings, execute=False)
    assert sorted(dry["work_dirs"]) == ["done", "failed", "lost", "unknown"]
    assert dry["foreign_work_dirs"] == ["not.a.job"]
    assert dry["uncommitted"] == ["failed"]
    assert dry["orphaned_objects"] == ["orphan"]
    assert dry["missing_objects"] == ["lost"]
    assert store.list_keys("jobs/failed/") and (work / "done").exists()  # a dry run changes nothing

    done = sweep(jobs, store, settings, execute=True)
    assert done["uncommitted"] == ["failed"]
    assert sorted(p.name for p in work.iterdir()) == ["not.a.job", "running"]
    assert store.list_keys("jobs/failed/") == [] and store.list_keys("jobs/orphan/") == []
    assert store.list_keys("jobs/done/") and store.list_keys("jobs/running/")
    lost = jobs.get("lost")
    assert lost.status == "SUCCEEDED" and lost.artifacts is None
    assert "outputs missing" in lost.error_message


@pytest.mark.s3
def test_sweeper_aborts_stale_multipart_uploads(s3_settings: Settings):
    store = open_store(s3_settings)
    client = store.client  # type: ignore[attr-defined]
    upload_id = client._create_multipart_upload(store.bucket, "jobs/x/video.mp4", {})  # type: ignore[attr-defined]
    assert client._list_multipart_uploads(store.bucket).uploads  # type: ignore[attr-defined]
    s3_settings.maintenance.sweep_grace_s = 0
    time.sleep(1)
    report = sweep(ledger(), store, s3_settings, execute=True)
    assert report["stale_uploads_aborted"] == 1
    assert not client._list_multipart_uploads(store.bucket).uploads  # type: ignore[attr-defined]
    assert upload_id


def test_retention_dry_run_then_execute(settings: Settings, tmp_path: Path):
    store, jobs = open_store(settings), ledger()
    for job_id in ("old", "new"):
        jobs.claim_job(job_id, flow_run_id=None)
        jobs.mark_running(job_id, "upload")
        jobs.mark_succeeded(job_id, {})
        store.put_bytes(f"jobs/{job_id}/manifest.json", b"{}", "application/json")
    with jobs._sessions.begin() as session:  # finished ten days ago
        session.get(type(jobs.get("old")), "old").finished_at = datetime.now(UTC) - timedelta(
            days=10
        )
    dry = enforce_retention(jobs, store, settings, 7, execute=False)
    assert dry == {"expired": ["old"], "refused": []}
    assert jobs.get("old") is not None and store.list_keys("jobs/old/")
    result = CliRunner().invoke(app, ["cleanup", "--days", "7", "--execute"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["retention"] == {"expired": ["old"], "refused": []}
    assert jobs.get("old") is None and store.list_keys("jobs/old/") == []
    assert jobs.get("new") is not None and store.list_keys("jobs/new/")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_ledger_maintenance(request: pytest.FixtureRequest, tmp_path: Path, kind: str):
    url = (
        f"sqlite:///{tmp_path / 'l.db'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    )
    led = JobLedger(url)
    for i in range(2000):
        led.claim_job(f"j{i}", flow_run_id=None, source="x" * 500)
    led.delete([f"j{i}" for i in range(2000)])
    try:
        if kind == "sqlite":
            before = (tmp_path / "l.db").stat().st_size + (tmp_path / "l.db-wal").stat().st_size
            assert "VACUUM" in led.maintain()
            after = (tmp_path / "l.db").stat().st_size + (tmp_path / "l.db-wal").stat().st_size
            assert after < before / 2  # the deleted rows' pages were given back
        else:
            assert "ANALYZE" in led.maintain()
            with led.engine.connect() as conn:
                analyzed = conn.exec_driver_sql(
                    "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'jobs'"
                ).scalar()
            assert analyzed is not None  # ANALYZE really ran on the jobs table
    finally:
        led.dispose()
