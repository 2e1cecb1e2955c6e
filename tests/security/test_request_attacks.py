"""The red-team findings of issue 9, each replayed through the ``request`` a deployment run or the
Prefect UI form receives (the flow called with it) or the job service, as a hostile client would.

Each test reproduces the attack and checks what must hold: nothing outside the job is touched,
nothing is read or published that the request may not name, and the refusal has its code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.document_job import document_job
from infra.errors import InputInvalid, StorageRejected
from infra.jobs.models import JobRequest
from infra.jobs.sources import LocalSource, open_local_source, resolve_local_source
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from infra.store.removal import delete_job_objects, remove_work_dir
from tasks.maintenance import enforce_retention
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.ledgers import ledger

runner = CliRunner()


def _doc(tmp_path: Path, name: str = "doc.md", text: str = SAMPLE_MARKDOWN) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _home_intact(settings: Settings, canaries: list[Path]) -> None:
    for canary in canaries:
        assert canary.exists(), f"{canary} was deleted"
    assert Path(settings.ledger.url.removeprefix("sqlite:///")).exists()  # type: ignore[union-attr]


def _plant(settings: Settings) -> list[Path]:
    """Files an attack on the store or the home would destroy: another job, the home itself."""
    store_root = Path(settings.storage.local_root or "") / settings.storage.bucket
    other = store_root / "jobs" / "other-job" / "video.mp4"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"someone else's video")
    beside = settings.home / "keep.txt"
    beside.parent.mkdir(parents=True, exist_ok=True)
    beside.write_text("the operator's file")
    ledger()  # the ledger database exists
    return [other, beside]


# -- 1. A job id of ".." or "." -------------------------------------------------------------


@pytest.mark.prefect
@pytest.mark.parametrize("job_id", ["..", ".", "a/../..", "x/y", "-flag", "a" * 65])
def test_a_path_as_job_id_is_refused_and_deletes_nothing(
    prefect_server: str, settings: Settings, tmp_path: Path, job_id: str
):
    canaries = _plant(settings)
    source = _doc(tmp_path)
    state = document_job(  # what the UI form or a deployment run passes, unvalidated
        {"source": str(source), "preset": "tiny", "job_id": job_id},  # type: ignore[arg-type]
        return_state=True,
    )
    assert state.is_failed()
    _home_intact(settings, canaries)
    assert ledger().list_jobs() == []
    result = runner.invoke(app, ["cleanup", "--days", "0", "--execute", "--orphaned"])
    assert result.exit_code == 0, result.output
    _home_intact(settings, canaries)


def test_store_deletes_refuse_anything_but_one_jobs_prefix(settings: Settings):
    store = open_store(settings)
    canaries = _plant(settings)
    for prefix in ("jobs/../", "jobs/./", "jobs/", "", "../", "jobs/a/b/", "jobs/..", "other/x/"):
        with pytest.raises(StorageRejected):
            store.delete_prefix(prefix)
    for job_id in ("..", ".", ""):
        with pytest.raises(InputInvalid):
            delete_job_objects(store, job_id)
        with pytest.raises(InputInvalid):
            remove_work_dir(settings.work_dir_root, job_id)
    _home_intact(settings, canaries)


@pytest.mark.s3
def test_s3_deletes_refuse_anything_but_one_jobs_prefix(s3_settings: Settings, tmp_path: Path):
    store = open_store(s3_settings)
    store.put_bytes("jobs/other-job/video.mp4", b"x", "video/mp4")
    for prefix in ("jobs/../", "jobs/", "", "jobs/a/b/"):
        with pytest.raises(StorageRejected):
            store.delete_prefix(prefix)
    assert store.exists("jobs/other-job/video.mp4")


def test_a_work_folder_swapped_for_a_symlink_is_unlinked_not_followed(
    settings: Settings, tmp_path: Path
):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep")
    root = settings.work_dir_root
    root.mkdir(parents=True)
    (root / "job-1").symlink_to(victim, target_is_directory=True)
    assert remove_work_dir(root, "job-1")
    assert (victim / "precious").exists() and not (root / "job-1").exists()


def test_retention_never_acts_on_a_legacy_row_whose_id_is_a_path(settings: Settings):
    """A row written before the fix (id "..") is reported, never used to build a path."""
    canaries = _plant(settings)
    jobs = ledger()
    with jobs.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO jobs (id, status, finished_at) VALUES ('..', 'FAILED', '2020-01-01')"
        )
    report = enforce_retention(jobs, open_store(settings), settings, 0, execute=True)
    assert report["refused"] == [".."] and report["expired"] == []
    _home_intact(settings, canaries)


# -- 2. Reusing an existing job id ------------------------------------------------------------


@pytest.mark.prefect
@pytest.mark.media
def test_reusing_a_job_id_is_refused_and_never_touches_the_existing_job(
    prefect_server: str, settings: Settings, tmp_path: Path
):
    first = document_job(
        JobRequest(source=str(_doc(tmp_path)), preset="tiny", job_id="taken"), return_state=True
    )
    assert first.is_completed()
    store = open_store(settings)
    before = sorted(store.list_keys("jobs/taken/"))
    row = ledger().get("taken")

    second = document_job(
        JobRequest(source=str(_doc(tmp_path, "evil.md")), preset="tiny", job_id="taken"),
        return_state=True,
    )
    assert second.is_failed() and second.message.startswith("[job_id_taken]")
    assert sorted(store.list_keys("jobs/taken/")) == before  # outputs untouched, still committed
    after = ledger().get("taken")
    assert (after.status, after.flow_run_id, after.artifacts, after.source) == (
        "SUCCEEDED",
        row.flow_run_id,
        row.artifacts,
        row.source,
    )


# -- 3. A source that reads any file the worker can read -----------------------------------------


@pytest.mark.prefect
@pytest.mark.parametrize("target", ["/etc/passwd", "secret-env", "/proc/self/environ"])
def test_a_source_outside_the_input_roots_is_refused_and_nothing_is_published(
    prefect_server: str, settings: Settings, tmp_path: Path, target: str
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    if target == "secret-env":  # a symlink inside the root to a .env with passwords outside it
        secret = tmp_path.parent / f"{tmp_path.name}-dotenv"
        secret.write_text("REELFLOW_STORAGE__S3_SECRET_KEY=hunter2-" + "x" * 60)
        (inbox / "notes.md").symlink_to(secret)
        source = str(inbox / "notes.md")
    else:
        source = target
    os.environ["REELFLOW_INPUT__ROOTS"] = str(inbox)
    get_settings.cache_clear()
    try:
        state = document_job(JobRequest(source=source, preset="tiny"), return_state=True)
    finally:
        os.environ["REELFLOW_INPUT__ROOTS"] = str(tmp_path)
        get_settings.cache_clear()
    assert state.is_failed() and state.message.startswith("[input_invalid]")
    assert open_store(settings).list_keys("jobs/") == []
    job = ledger().list_jobs()[0]
    assert job.error_code == "input_invalid" and "hunter2" not in (job.error_message or "")


def test_special_files_are_refused_without_blocking(settings: Settings, tmp_path: Path):
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)  # opening it for reading would block forever without O_NONBLOCK
    with pytest.raises(InputInvalid, match="not a regular file"):
        with open_local_source(resolve_local_source(str(fifo), [tmp_path])):
            pass
    with pytest.raises(InputInvalid, match="system file"):
        resolve_local_source("/proc/self/environ", [Path("/")])


def test_a_symlink_swapped_in_after_the_check_is_not_followed(tmp_path: Path):
    root = tmp_path / "inbox"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "doc.md").write_text("fine")
    checked = resolve_local_source(str(root / "sub" / "doc.md"), [root])
    # Between the check and the open, the folder becomes a link to /etc.
    (root / "sub" / "doc.md").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to("/etc", target_is_directory=True)
    swapped = LocalSource(checked.root, checked.root / "sub" / "passwd")
    with pytest.raises(InputInvalid, match="replaced by a link"):
        with open_local_source(swapped):
            pass


# -- 4. Limits above the operator's -------------------------------------------------------------


@pytest.mark.prefect
def test_a_request_cannot_raise_its_own_limits(prefect_server: str, settings, tmp_path: Path):
    request = JobRequest(source=str(_doc(tmp_path)), limits={"max_memory_mb": 10**12})
    state = document_job(request, return_state=True)
    assert state.is_failed() and state.message.startswith("[input_invalid]")
    assert "above the operator's limit" in state.message
    result = runner.invoke(app, ["submit", str(_doc(tmp_path)), "--max-memory-mb", str(10**12)])
    assert result.exit_code == 2 and "input_invalid" in result.output


# -- 5. Voices -------------------------------------------------------------------------------


@pytest.mark.parametrize("voice", ["/etc/passwd", "../../x", "en-us;rm", "zz-notavoice"])
def test_only_installed_espeak_voices_are_accepted(settings: Settings, tmp_path: Path, voice):
    from infra.jobs.preflight import preflight

    with pytest.raises((InputInvalid, ValueError)):
        preflight(JobRequest(source=str(_doc(tmp_path)), voice=voice), settings)
    assert preflight(JobRequest(source=str(_doc(tmp_path)), voice="en-gb"), settings)


# -- 6. A FAILED job with a committed manifest ------------------------------------------------


def test_a_presign_expiry_over_seven_days_is_refused_at_start(settings, monkeypatch):
    from infra.errors import ConfigError

    monkeypatch.setenv("REELFLOW_STORAGE__PRESIGN_EXPIRY_S", str(8 * 24 * 3600))
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="presign_expiry_s"):
        get_settings()


# -- 13. Presigned URLs and rich markup -------------------------------------------------------


@pytest.mark.prefect
@pytest.mark.media
def test_no_bearer_url_is_stored_and_markup_in_a_path_is_just_text(
    prefect_server: str, settings: Settings, tmp_path: Path
):
    folder = tmp_path / "x[" / "bold]y"  # the path reads ".../x[/bold]y/..."
    folder.mkdir(parents=True)
    source = _doc(folder, "[red]doc.md")
    assert "[/bold]" in str(source)
    result = runner.invoke(app, ["run", str(source), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    job = ledger().list_jobs()[0]
    assert job.status == "SUCCEEDED"
    assert all(v.startswith(f"jobs/{job.id}/") for v in job.artifacts.values())  # keys only
    assert "[red]doc.md" in result.output
