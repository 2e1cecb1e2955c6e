"""The job scope and the stage runner: failures are recorded with their code and detail."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil
import pytest

from infra.errors import (
    LLMUnavailable,
    ResourceLimitExceeded,
    StorageUnavailable,
    TTSFailed,
    UserCanceled,
)
from infra.jobs.models import JobKind, JobRequest, RenderOutputs
from infra.jobs.stages import Stage
from infra.settings import Settings, get_settings
from infra.store.artifacts import LocalStore, StoredObject, open_store
from infra.store.layout import MANIFEST, job_prefix
from tasks.stage import JobContext, job_scope, run_stage
from tests.support.full_disk import tiny_tmpfs
from tests.support.ledgers import ledger
from tests.support.llm_double import LLMDouble, script_reply
from tests.support.waiting import wait_until


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

    from infra.store.ledger import JobLedger
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


@contextlib.contextmanager
def _scope(job_id: str, settings: Settings) -> Iterator[JobContext]:
    with job_scope(
        JobRequest(source="/x.md", job_id=job_id),
        kind=JobKind.DOCUMENT,
        flow_run_id=None,
        settings=settings,
        ledger=ledger(),
        description="test",
    ) as ctx:
        yield ctx


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(f"REELFLOW_{key}", value)
    get_settings.cache_clear()
    return get_settings()


@pytest.mark.prefect
def test_retries_back_off_exponentially_with_jitter(
    prefect_server: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, record_property
):
    """The delays Prefect scheduled between attempts: each within its jitter bounds around
    ``backoff * 2**retry``, and none the bare exponential value (the jitter is applied)."""
    from prefect import task
    from prefect.client.orchestration import get_client
    from prefect.runtime import task_run
    from prefect.utilities.math import lower_clamp_multiple

    backoff, jitter = 0.3, 0.5
    cfg = _settings(
        monkeypatch,
        STAGES__RETRIES="3",
        STAGES__RETRY_BACKOFF_S=str(backoff),
        STAGES__RETRY_JITTER=str(jitter),
    )
    attempts: list[str] = []

    @task(name="upload-flaky")
    def flaky() -> str:
        attempts.append(str(task_run.id))
        if len(attempts) <= 3:
            raise StorageUnavailable(f"attempt {len(attempts)}: the store is away")
        return "stored"

    with _scope("backoff", cfg) as ctx:
        assert run_stage(ctx, Stage.UPLOAD, flaky) == "stored"
    assert len(attempts) == 4 and len(set(attempts)) == 1  # one task run, three retries

    def awaiting_retry() -> list[Any]:
        with get_client(sync_client=True) as client:
            states = client.read_task_run_states(UUID(attempts[0]))
        found = [s for s in states if s.name == "AwaitingRetry"]
        return found if len(found) == 3 else []

    retries = wait_until(awaiting_retry, 30, "three AwaitingRetry states in Prefect")
    delays = [
        (s.state_details.scheduled_time - s.timestamp).total_seconds()
        for s in sorted(retries, key=lambda s: s.timestamp)
    ]
    record_property("retry_delays_s", [round(d, 3) for d in delays])
    for retry, delay in enumerate(delays):
        nominal = backoff * 2**retry
        low = nominal * lower_clamp_multiple(1 + jitter)
        assert low - 0.01 <= delay <= nominal * (1 + jitter) + 0.01, (retry, delay)
        assert abs(delay - nominal) > 1e-4, (retry, delay)  # jittered, not the bare backoff


@pytest.mark.prefect
def test_the_ledger_heartbeat_advances_while_a_stage_runs(
    prefect_server: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    """The reaper trusts the ledger's own heartbeat: it must move during a long stage."""
    from prefect import task

    cfg = _settings(monkeypatch, LEDGER__HEARTBEAT_S="0.2")

    @task(name="render-long")
    def long_stage(job_id: str) -> list[Any]:
        beats = [ledger().get(job_id).heartbeat_at]
        for _ in range(2):  # two beats while this stage runs
            wait_until(
                lambda: ledger().get(job_id).heartbeat_at not in beats,
                10,
                "a ledger heartbeat during the stage",
            )
            beats.append(ledger().get(job_id).heartbeat_at)
        return beats

    with _scope("beating", cfg) as ctx:
        beats = run_stage(ctx, Stage.RENDER, long_stage, ctx.job_id)
    assert beats[1] is not None and beats[1] < beats[2]
    assert ledger().get("beating").stage == "render"


@pytest.mark.prefect
@pytest.mark.media
def test_a_render_timeout_during_speech_is_tts_failed(
    prefect_server: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """The stage's timeout is blamed on what ran: espeak-ng gives the speech code, and the
    speech process is stopped with the stage."""
    from prefect import task

    from infra.media.tts import synthesize

    cfg = _settings(monkeypatch, STAGES__RENDER_TIMEOUT_S="1")

    @task(name="render-speech")
    def speak(ctx: JobContext, wav: Path) -> float:  # hours of speech: far past 1 s
        return synthesize("Reelflow speaks. " * 20_000, wav, voice="en", guard=ctx.guard)

    with pytest.raises(TTSFailed) as err:
        with _scope("speech-timeout", cfg) as ctx:
            run_stage(ctx, Stage.RENDER, speak, ctx, tmp_path / "speech.wav")
    assert "render stage ran past its 1 s timeout while espeak-ng was running" in str(err.value)
    assert isinstance(err.value.__cause__, TimeoutError)
    assert not [p for p in psutil.Process().children(recursive=True) if "espeak" in p.name()]
    job = ledger().get("speech-timeout")
    assert (job.status, job.error_code, job.stage) == ("FAILED", "tts_failed", "render")


def _outputs(tmp_path: Path, size: int) -> RenderOutputs:
    video = tmp_path / "video.mp4"
    video.write_bytes(b"v" * size)
    return RenderOutputs(
        files={"video.mp4": str(video)},
        outputs={"video": "video.mp4"},
        duration_s=1.0,
        narration_s=1.0,
        slide_durations_s=[1.0],
    )


@pytest.mark.prefect
@pytest.mark.s3
def test_an_upload_timeout_is_storage_unavailable(
    prefect_server: str, s3_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """An upload stopped at its stage timeout over a slow link: the storage code, not ffmpeg's."""
    from tasks.upload import upload_stage
    from tests.support.slow_link import SlowLink

    open_store(s3_settings)  # the bucket exists
    link = SlowLink(s3_settings.storage.s3_endpoint, latency_s=3)
    try:
        cfg = _settings(
            monkeypatch, STAGES__UPLOAD_TIMEOUT_S="1", STORAGE__S3_ENDPOINT=link.endpoint
        )
        request = JobRequest(source="/x.md", job_id="upload-timeout")
        with pytest.raises(StorageUnavailable) as err:
            with _scope("upload-timeout", cfg) as ctx:
                ctx.store()  # the bucket check, before the stage's clock starts
                run_stage(
                    ctx, Stage.UPLOAD, upload_stage, ctx, _outputs(tmp_path, 1024), request, "x.md"
                )
        assert link.bytes_up > 0  # the PUT was on the wire when the timeout struck
    finally:
        link.stop()
    assert "upload stage ran past its 1 s timeout while upload was running" in str(err.value)
    assert isinstance(err.value.__cause__, TimeoutError)
    job = ledger().get("upload-timeout")
    assert (job.status, job.error_code, job.stage) == ("FAILED", "storage_unavailable", "upload")


class _CanceledAtCommit(LocalStore):
    """A local store whose commit (the manifest) lands just as a user cancels the job."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        stored = super().put_bytes(key, data, content_type)
        if key.endswith(MANIFEST):
            assert ledger().mark_canceled(key.split("/")[1])
        return stored


def test_a_result_finishing_during_a_cancel_is_discarded(settings: Settings, tmp_path: Path):
    from infra.process.watchdog import JobWatchdog, Limits
    from tasks.upload import upload_stage

    ledger().claim_job("late", flow_run_id=None)
    ledger().mark_running("late", "upload")
    assert settings.storage.local_root is not None
    store = _CanceledAtCommit(settings.storage.local_root, settings.storage.bucket)
    ctx = JobContext(
        job_id="late",
        flow_run_id=None,
        kind=JobKind.DOCUMENT,
        settings=settings,
        ledger=ledger(),
        guard=JobWatchdog(Limits(), tmp_path / "work"),
        progress_id=None,
    )
    ctx._store = store
    request = JobRequest(source="/x.md", job_id="late")
    with pytest.raises(UserCanceled, match="outputs discarded"):
        upload_stage.fn(ctx, _outputs(tmp_path, 1024), request, "x.md")
    assert store.list_keys(job_prefix("late")) == []  # the manifest and the video withdrawn
    job = ledger().get("late")
    assert (job.status, job.error_code, job.artifacts) == ("CANCELED", "user_canceled", None)


@pytest.mark.prefect
def test_a_script_timeout_while_the_llm_thinks_is_llm_unavailable(
    prefect_server: str,
    llm_settings: Settings,
    llm_double: LLMDouble,
    monkeypatch: pytest.MonkeyPatch,
):
    """The LLM is still thinking when the script stage's clock runs out: the provider's code
    (retryable), not a bad script."""
    from infra.jobs.models import DocumentInput
    from tasks.script import script_stage

    llm_double.respond(script_reply(delay_s=30))  # stop() releases it when the test ends
    cfg = _settings(monkeypatch, STAGES__SCRIPT_TIMEOUT_S="1", SCRIPT__LLM_TIMEOUT_S="60")
    doc = DocumentInput(
        path="doc.md",
        doc_type="markdown",
        sha256="0" * 64,
        size=1,
        text="",
        sections=[("Why", "Jobs should never get stuck."), ("How", "- probe\n- render")],
    )
    with pytest.raises(LLMUnavailable) as err:
        with _scope("llm-timeout", cfg) as ctx:
            run_stage(ctx, Stage.SCRIPT, script_stage, ctx, doc, JobRequest(source="/x.md"))
    assert llm_double.calls == 1
    assert "script stage ran past its 1 s timeout while llm was running" in str(err.value)
    job = ledger().get("llm-timeout")
    assert (job.status, job.error_code, job.stage) == ("FAILED", "llm_unavailable", "script")
