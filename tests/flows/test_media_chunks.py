"""Chunked media jobs through real flow runs: a ``media-chunk`` run per chunk on the process pool.

A tiny threshold makes a 6 s clip a chunked job (2 s chunks, 1 s segments). The chunked job's
outputs are compared frame for frame with a single-pass job of the same source; a canceled
chunked job leaves no chunk run going and no scratch object.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from prefect.states import State

import tasks.media.chunked as chunked
from flows.media_job import media_job
from infra.errors import PrefectUnavailable, StorageUnavailable
from infra.jobs.models import JobRequest
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tasks.media.chunked import chunk_runs_tag
from tests.support.jobs import cancel, submit
from tests.support.ledgers import ledger
from tests.support.media_clips import beep_onsets, flash_beep, flash_times, frame_pts
from tests.support.tools import pool_worker, stage_run_count, wait_for_run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.prefect, pytest.mark.media]


@pytest.fixture()
def chunk_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_THRESHOLD_S", "3")
    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_S", "2")
    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_POLL_S", "0.2")
    monkeypatch.setenv("REELFLOW_RENDER__HLS_SEGMENT_S", "1")
    monkeypatch.setenv("REELFLOW_RENDER__FFMPEG_THREADS", "1")
    get_settings.cache_clear()
    return get_settings()


def _chunk_runs(job_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[chunk_runs_tag(job_id)]))
        )


def _download(settings: Settings, job_id: str, name: str, target: Path) -> Path:
    target.write_bytes(open_store(settings).get_bytes(f"jobs/{job_id}/{name}"))
    return target


def _job_with_chunk_worker(prefect_server: str, source: Path, log: Path) -> State:
    """Run a media job of ``source`` here while a process worker takes its chunk runs."""
    with pool_worker(prefect_server, "reelflow-process", "process", "media-chunk-process", log=log):
        return media_job(JobRequest(source=str(source), preset="tiny"), return_state=True)


def _psnr(a: Path, b: Path, shift: int = 0) -> list[float]:
    first = f"[0:v]trim=start_frame={shift},setpts=PTS-STARTPTS[a]" if shift else "[0:v]null[a]"
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(a), "-i", str(b), "-lavfi",
         f"{first};[a][1:v]psnr=stats_file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    values = [ln.split("psnr_avg:")[1].split()[0] for ln in out.splitlines() if "psnr_avg" in ln]
    return [99.0 if v == "inf" else float(v) for v in values]


def test_chunked_job_matches_the_single_pass_frame_for_frame(
    prefect_server: str, chunk_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REELFLOW_MEDIA__PARENT_ENCODES", "false")  # every chunk in a chunk run
    get_settings.cache_clear()
    source = flash_beep(
        tmp_path / "source.mp4", size="426x240", rate=25, seconds=6, flash_frame=75, moving=True,
        gop=25,
    )  # fmt: skip
    state = _job_with_chunk_worker(prefect_server, source, tmp_path / "worker.log")
    assert state.is_completed(), state.message
    job_id = state.result().job_id
    runs = _chunk_runs(job_id)
    assert len(runs) == 3 and all(r.state.is_completed() for r in runs)
    store = open_store(chunk_settings)
    assert store.list_keys(f"scratch/{job_id}/") == []  # scratch removed on success too
    manifest = json.loads(store.get_bytes(f"jobs/{job_id}/manifest.json"))
    assert "decode" in manifest["gate"]["passed"]
    chunked = _download(chunk_settings, job_id, "video.mp4", tmp_path / "chunked.mp4")

    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_THRESHOLD_S", "600")
    get_settings.cache_clear()
    single_state = media_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    assert single_state.is_completed(), single_state.message
    single_id = single_state.result().job_id
    assert _chunk_runs(single_id) == []
    single = _download(chunk_settings, single_id, "video.mp4", tmp_path / "single.mp4")

    pts_single, pts_chunked = frame_pts(single), frame_pts(chunked)
    assert len(pts_chunked) == len(pts_single) == manifest["plan"]["frames"] == 150
    assert pts_chunked == pts_single  # no duplicated or missing timestamp at the joins
    assert min(_psnr(single, chunked)) > 32  # the same picture in every frame
    assert min(_psnr(single, chunked, shift=1)) < 25  # (a one-frame slip would show)
    flashes, beeps = flash_times(chunked, 25.0, threshold=200), beep_onsets(chunked)
    assert flashes == [3.0] and len(beeps) == 1 and abs(beeps[0] - flashes[0]) < 1 / 25


def test_a_chunked_job_with_no_worker_for_its_chunks_encodes_them_itself(
    prefect_server: str, chunk_settings: Settings, tmp_path: Path
):
    """No worker takes the chunk runs (none is polling, as when the parent holds the pool's
    only slot): the parent claims every chunk, cancels its run and encodes it from its own copy
    of the source, instead of waiting until its encode deadline."""
    source = flash_beep(
        tmp_path / "source.mp4", size="320x180", rate=25, seconds=6, flash_frame=75, moving=True,
        gop=25,
    )  # fmt: skip
    state = media_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    assert state.is_completed(), state.message
    job_id = state.result().job_id
    runs = _chunk_runs(job_id)
    assert len(runs) == 3 and all(r.state.is_cancelled() for r in runs), [
        r.state.name for r in runs
    ]
    store = open_store(chunk_settings)
    assert store.list_keys(f"scratch/{job_id}/") == []
    manifest = json.loads(store.get_bytes(f"jobs/{job_id}/manifest.json"))
    assert "decode" in manifest["gate"]["passed"]
    chunked = _download(chunk_settings, job_id, "video.mp4", tmp_path / "chunked.mp4")
    pts = frame_pts(chunked)
    assert len(pts) == manifest["plan"]["frames"] == 150
    assert pts == sorted(set(pts))  # no duplicated or missing timestamp at the joins
    assert max(b - a for a, b in zip(pts, pts[1:], strict=False)) < 1.5 / 25
    flashes, beeps = flash_times(chunked, 25.0, threshold=200), beep_onsets(chunked)
    assert flashes == [3.0] and len(beeps) == 1 and abs(beeps[0] - flashes[0]) < 1 / 25


def test_a_retried_encode_stage_starts_fresh_chunk_runs(
    prefect_server: str, chunk_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The encode stage fails with a retryable error once its chunk runs exist (injected where
    the parent starts waiting for them: a store or ledger that went away for a moment). Its way
    out cancels those runs; the retried stage must start new ones, not be handed the canceled
    runs back by their idempotency keys and fail on "chunk k ended Cancelled"."""
    monkeypatch.setenv("REELFLOW_MEDIA__PARENT_ENCODES", "false")  # every chunk in a chunk run
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_BACKOFF_S", "0.2")
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_JITTER", "0")
    get_settings.cache_clear()
    wait_for, first_attempt = chunked._wait_for, []

    def fails_once(ctx: object, runs: dict[int, str], on_progress: object) -> None:
        if not first_attempt:
            first_attempt.extend(runs.values())
            raise StorageUnavailable("injected: the store did not answer for a moment")
        return wait_for(ctx, runs, on_progress)

    monkeypatch.setattr(chunked, "_wait_for", fails_once)
    source = flash_beep(tmp_path / "source.mp4", size="320x180", rate=25, seconds=6, gop=25)
    state = _job_with_chunk_worker(prefect_server, source, tmp_path / "worker.log")
    assert state.is_completed(), state.message
    assert stage_run_count(state.state_details.flow_run_id, "encode") == 2
    assert len(first_attempt) == 3
    runs = {str(r.id): r for r in _chunk_runs(state.result().job_id)}
    # The first attempt's runs were canceled on its way out; one a worker had already taken may
    # still be Cancelling here (its worker stops it), or may have completed first (then its chunk
    # was reused). The retry started fresh runs for the others, and they completed.
    fresh = [r for r in runs.values() if str(r.id) not in first_attempt]
    assert fresh and all(r.state.is_completed() for r in fresh), [r.state.name for r in fresh]
    assert len(fresh) == sum(not runs[r].state.is_completed() for r in first_attempt), [
        runs[r].state.name for r in first_attempt
    ]


def test_prefect_not_answering_for_a_moment_does_not_fail_the_wait_for_chunks(
    prefect_server: str, chunk_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Prefect's API does not answer the parent's first reads of its chunk runs' states
    (injected, as a restarting API server would): the parent keeps waiting; failing the stage
    would cancel the healthy runs and encode every chunk again."""
    monkeypatch.setenv("REELFLOW_MEDIA__PARENT_ENCODES", "false")  # every chunk in a chunk run
    get_settings.cache_clear()
    read, unanswered = chunked.prefect.read_run_state, [3]

    def not_answering_at_first(run_id: str) -> object:
        if unanswered[0] > 0:
            unanswered[0] -= 1
            raise PrefectUnavailable("injected: Prefect's API is unreachable (read flow run)")
        return read(run_id)

    monkeypatch.setattr(chunked.prefect, "read_run_state", not_answering_at_first)
    source = flash_beep(tmp_path / "source.mp4", size="320x180", rate=25, seconds=6, gop=25)
    state = _job_with_chunk_worker(prefect_server, source, tmp_path / "worker.log")
    assert state.is_completed(), state.message
    assert unanswered == [0]
    assert stage_run_count(state.state_details.flow_run_id, "encode") == 1  # not retried
    runs = _chunk_runs(state.result().job_id)
    assert len(runs) == 3 and all(r.state.is_completed() for r in runs)


def test_a_chunk_run_is_held_to_the_limits_and_the_job_fails_with_its_code(
    prefect_server: str, chunk_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The chunk worker's operator allows 1 MB of memory per job: each chunk run's watchdog
    stops its media process (a chunk run was unguarded before), the chunk ends at once (the
    error is not retryable), and the job fails ``resource_limit_exceeded``, not a generic
    ``ffmpeg_failed``."""
    monkeypatch.setenv("REELFLOW_MEDIA__PARENT_ENCODES", "false")  # every chunk in a chunk run
    get_settings.cache_clear()
    source = flash_beep(tmp_path / "source.mp4", size="320x180", rate=25, seconds=6, gop=25)
    with pool_worker(
        prefect_server, "reelflow-process", "process", "media-chunk-process",
        log=tmp_path / "worker.log", limit=3, REELFLOW_LIMITS__MAX_MEMORY_MB="1",
        REELFLOW_LIMITS__WATCHDOG_INTERVAL_S="0.02",
    ):  # fmt: skip
        state = media_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    assert state.is_failed()
    assert "[resource_limit_exceeded] chunk" in state.message, state.message
    job = ledger().list_jobs(limit=1)[0]
    assert (job.status, job.error_code) == ("FAILED", "resource_limit_exceeded"), job.error_message
    failed = [r for r in _chunk_runs(job.id) if r.state.is_failed()]
    assert failed, [r.state.name for r in _chunk_runs(job.id)]
    assert all(stage_run_count(r.id, "encode-chunk") == 1 for r in failed)  # not retried
    assert all("resource_limit_exceeded" in (r.state.message or "") for r in failed)


@pytest.mark.timeout(420)
def test_cancel_of_a_chunked_job_stops_every_chunk_run_and_leaves_no_scratch(
    prefect_server: str, chunk_settings: Settings, tmp_path: Path
):
    source = flash_beep(tmp_path / "long.mp4", size="426x240", rate=25, seconds=16, moving=True)
    job_id = "chunked-cancel"
    with (
        pool_worker(
            prefect_server, "reelflow-process", "process", "media-chunk-process",
            log=tmp_path / "chunks.log",
        ),
        pool_worker(
            prefect_server, "reelflow-process", "process", "media-job-process",
            log=tmp_path / "parent.log", create_pool=False,
        ),
    ):  # fmt: skip
        parent = submit(
            JobRequest(source=str(source), preset="tiny", job_id=job_id),
            "media-job/media-job-process",
        )
        wait_until(
            lambda: any(r.state.is_running() for r in _chunk_runs(job_id)),
            180,
            "a running chunk run",
            poll=0.2,
        )
        assert cancel(job_id)
        final = wait_for_run(parent, 150)
        assert final.is_cancelled(), final
        runs = _chunk_runs(job_id)
        assert runs and all(r.state.is_final() for r in runs), [r.state.name for r in runs]
    assert ledger().get(job_id).status == "CANCELED"
    store = open_store(chunk_settings)
    assert store.list_keys(f"scratch/{job_id}/") == []
    assert store.list_keys(f"jobs/{job_id}/") == []
