"""The job ledger on SQLite (WAL) and on a real PostgreSQL server: same code, same behaviour."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from infra.errors import InternalError, JobIdTaken, LedgerUnavailable
from infra.store.ledger import JobLedger, JobStatus


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> JobLedger:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    led = JobLedger(url, busy_timeout_ms=5000)
    yield led
    led.dispose()


def test_lifecycle_and_terminal_states_never_change(ledger: JobLedger):
    ledger.claim_job("j1", flow_run_id="run-1", source="a.pdf", kind="document", preset="hd")
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


def test_a_job_id_is_claimed_once_and_never_overwritten(ledger: JobLedger):
    """Attack (issue 9, #2): reusing an existing job id destroyed that job's row and outputs."""
    ledger.claim_job("j2", flow_run_id="run-1", source="b.md", client="alice")
    ledger.mark_running("j2", "upload")
    ledger.mark_succeeded("j2", {"video": "jobs/j2/video.mp4"})
    with pytest.raises(JobIdTaken):
        ledger.claim_job("j2", flow_run_id="run-2", source="evil.md", client="mallory")
    with pytest.raises(JobIdTaken):
        ledger.claim_job("j2", flow_run_id=None, source="evil.md")
    job = ledger.get("j2")
    assert (job.flow_run_id, job.source, job.client, job.status) == (
        "run-1",
        "b.md",
        "alice",
        JobStatus.SUCCEEDED,
    )
    assert job.artifacts == {"video": "jobs/j2/video.mp4"}


def test_the_same_run_claims_again_and_fills_missing_fields(ledger: JobLedger):
    """A retry of the flow run, or the flow confirming what its submitter wrote."""
    ledger.claim_job("j4", flow_run_id="run-1", client="api-key-1")
    again = ledger.claim_job("j4", flow_run_id="run-1", source="c.md", client="other")
    assert (again.source, again.client) == ("c.md", "api-key-1")  # filled, never overwritten
    assert ledger.owns("j4", "run-1") and not ledger.owns("j4", "run-2")
    assert [j.id for j in ledger.list_jobs()] == ["j4"]


def test_a_chunk_is_taken_by_its_run_or_its_parent_never_both(ledger: JobLedger):
    """The parent of a chunked job and the chunk's run race for a queued chunk: one wins."""
    ledger.claim_job("jc", flow_run_id="parent-run")
    ledger.assign_chunk("jc", "jc-chunk-3")
    ledger.assign_chunk("jc", "jc-chunk-3")  # a retried stage: the row stays as it is
    results: list[str | None] = []
    barrier = threading.Barrier(4)

    def take(by: str) -> None:
        barrier.wait()
        results.append(ledger.take_chunk("jc-chunk-3", by))

    threads = [threading.Thread(target=take, args=(b,)) for b in ("run", "parent") * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and results[0] in ("run", "parent")  # everyone sees the winner
    winner = results[0]
    loser = "parent" if winner == "run" else "run"
    assert ledger.take_chunk("jc-chunk-3", winner) == winner  # again (a retried task)
    assert ledger.take_chunk("jc-chunk-3", loser) == winner
    assert ledger.take_chunk("jc-chunk-3-try-2", "run") is None  # another key: no row
    ledger.assign_chunk("jc", "jc-chunk-3-try-2")
    assert ledger.take_chunk("jc-chunk-3-try-2", "parent") == "parent"
    assert ledger.delete(["jc"]) == 1  # retention drops the job's claims with it
    assert ledger.take_chunk("jc-chunk-3", "run") is None


def test_success_records_artifacts(ledger: JobLedger):
    ledger.claim_job("j3", flow_run_id=None)
    ledger.mark_running("j3", "upload")
    assert ledger.mark_succeeded("j3", {"video": "jobs/j3/video.mp4"})
    job = ledger.get("j3")
    assert job.status == JobStatus.SUCCEEDED
    assert job.artifacts == {"video": "jobs/j3/video.mp4"}
    assert ledger.list_jobs(status="SUCCEEDED")[0].id == "j3"


def test_sqlite_runs_in_wal_mode(tmp_path: Path):
    led = JobLedger(f"sqlite:///{tmp_path / 'wal.db'}")
    with led.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    led.dispose()


def test_sqlite_concurrent_writers_never_see_locked(tmp_path: Path):
    """8 threads with their own engines hammer one SQLite file: no write may fail."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    JobLedger(url).dispose()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        led = JobLedger(url, busy_timeout_ms=10_000)
        try:
            for i in range(25):
                job = f"w{n}-{i}"
                led.claim_job(job, flow_run_id=None)
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


def _legacy_jobs_table(with_later_columns: bool):
    """The jobs table as the first milestone's models created it (SQLAlchemy create_all), and as
    an even earlier build did (without progress and heartbeat_at)."""
    from sqlalchemy import JSON, Column, DateTime, Float, MetaData, String, Table, Text

    when = DateTime(timezone=True)
    columns = [
        Column("id", String(64), primary_key=True),
        Column("flow_run_id", String(64), index=True),
        Column("status", String(16), index=True),
        Column("stage", String(32)),
        Column("kind", String(16)),
        Column("source", Text),
        Column("preset", String(32)),
        Column("input_sha256", String(64)),
        Column("error_code", String(64)),
        Column("error_message", Text),
        Column("artifacts", JSON),
        Column("created_at", when),
        Column("updated_at", when),
        Column("started_at", when),
        Column("finished_at", when),
    ]
    if with_later_columns:
        columns += [Column("progress", Float), Column("heartbeat_at", when, index=True)]
    metadata = MetaData()
    Table("jobs", metadata, *columns)
    return metadata


@pytest.mark.parametrize("later_columns", [True, False], ids=["v1", "v0"])
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_ledger_in_production_today_upgrades_in_place(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, later_columns: bool
):
    """The ledger the first milestone shipped (no alembic_version) keeps its rows and gains the
    new schema; the migrated database equals the models (alembic's autogenerate finds nothing)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from infra.store.migrate import HEAD, current_revision
    from infra.store.schema import Base

    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    engine = create_engine(url)
    _legacy_jobs_table(later_columns).create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO jobs (id, status, stage) VALUES ('old', 'SUCCEEDED', 'upload')"
        )
    engine.dispose()
    led = JobLedger(url)  # every entry point upgrades a ledger that is behind
    try:
        assert current_revision(led.engine) == HEAD
        assert led.get("old").status == "SUCCEEDED"
        led.claim_job("new", flow_run_id="r", client="c", idempotency_key="k", request_digest="d")
        assert led.mark_running("new", "render") and led.set_progress("new", 42)
        assert led.touch("new") and led.get("new").progress == 42.0
        assert led.find_idempotent("c", "k").id == "new"
        with led.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        JobLedger(url).dispose()  # idempotent: nothing left to do
    finally:
        led.dispose()


def test_migrations_head_is_the_newest_revision():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from infra.store.migrate import HEAD, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_db_upgrade_command_on_a_fresh_ledger(settings, tmp_path: Path):
    from typer.testing import CliRunner

    from cli.main import app
    from infra.store.migrate import HEAD

    runner = CliRunner()
    done = runner.invoke(app, ["db", "upgrade"])
    assert done.exit_code == 0, done.output
    assert f"-> {HEAD}" in done.output
    current = runner.invoke(app, ["db", "current"])
    assert current.output.startswith(HEAD)


def test_database_errors_get_their_own_codes(tmp_path: Path):
    """An unreachable database is ledger_unavailable (retryable); a bug is internal_error."""
    down = JobLedger("postgresql+psycopg2://nobody@127.0.0.1:1/none", migrate=False)
    try:
        with pytest.raises(LedgerUnavailable) as err:
            down.get("x")
        assert err.value.retryable and err.value.code == "ledger_unavailable"
    finally:
        down.dispose()
    led = JobLedger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        with pytest.raises(InternalError):
            led.read(lambda s: s.execute(__import__("sqlalchemy").text("SELECT * FROM nope")))
    finally:
        led.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_revision_0004_fills_the_cost_column_from_usage(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
):
    """Jobs recorded before 0004 keep counting against their client's budget."""
    from sqlalchemy import create_engine, text

    from infra.store.migrate import upgrade

    url = (
        f"sqlite:///{tmp_path / 'l.db'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    )
    engine = create_engine(url)
    upgrade(engine, "0003")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO jobs (id, status, client, usage) VALUES ('a', 'SUCCEEDED', 'c', :u)"),
            {"u": '{"cost_usd": 0.25, "llm_calls": 1}'},
        )
        conn.execute(text("INSERT INTO jobs (id, status, client) VALUES ('b', 'FAILED', 'c')"))
    engine.dispose()
    led = JobLedger(url)
    try:
        assert (led.get("a").cost_usd, led.get("b").cost_usd) == (0.25, None)
        led.record_usage("b", {"cost_usd": 0.5})
        assert led.get("b").cost_usd == 0.5 and led.get("b").usage == {"cost_usd": 0.5}
    finally:
        led.dispose()
