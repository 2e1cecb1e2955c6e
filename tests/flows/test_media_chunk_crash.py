"""A chunked media job whose parent process is SIGKILLed mid-job runs again and reuses its chunks.

Through the real flows on a Prefect server of the test's own, two process workers, S3 (moto):
the parent ``media-job`` run is killed once a chunk run has encoded a chunk and written its
record to scratch. Prefect's runner in the worker sees the process die, sets the run Crashed
and runs the crash hook, which cancels the chunk runs still going and leaves the job RUNNING with
its scratch; the reaper (run here, as its schedule would) sets the same flow run AwaitingRetry
(``REELFLOW_MEDIA__CRASH_RETRIES``). The second attempt must start no chunk run for a chunk
scratch already proves (checksums and frame count of its record), encode the others, join them
into an output with the single pass's frame count, and remove the scratch prefix. Without the
reuse, chunk 0 gets a second run and the test fails.
"""

from __future__ import annotations

import os
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
import pytest

from flows.media_job import media_job
from infra.jobs.models import JobRequest
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from infra.store.scratch import chunk_record_key
from tasks.maintenance import reap_jobs
from tasks.media.chunked import chunk_runs_tag
from tests.conftest import OwnPrefect
from tests.support.jobs import submit
from tests.support.ledgers import ledger
from tests.support.media_clips import flash_beep, frame_pts
from tests.support.tools import pool_worker, wait_for_run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.prefect, pytest.mark.media, pytest.mark.s3]

CHUNKS = 5  # a 10 s clip in 2 s chunks


@pytest.fixture()
def own_api(own_prefect_server: OwnPrefect, monkeypatch: pytest.MonkeyPatch) -> Any:
    """This test's Prefect server for the test process too (the workers get it from pool_worker)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", own_prefect_server)
    with temporary_settings({PREFECT_API_URL: own_prefect_server}):
        yield own_prefect_server


@pytest.fixture()
def chunk_settings(s3_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_THRESHOLD_S", "3")
    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_S", "2")
    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_POLL_S", "0.2")
    monkeypatch.setenv("REELFLOW_MEDIA__CRASH_RETRIES", "1")
    monkeypatch.setenv("REELFLOW_MEDIA__PARENT_ENCODES", "false")  # chunks in chunk runs only
    monkeypatch.setenv("REELFLOW_MAINTENANCE__REAPER_STALE_S", "1")
    monkeypatch.setenv("REELFLOW_RENDER__HLS_SEGMENT_S", "1")
    monkeypatch.setenv("REELFLOW_RENDER__FFMPEG_THREADS", "1")
    get_settings.cache_clear()
    return get_settings()


def _chunk_runs_by_index(job_id: str) -> dict[int, list[Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[chunk_runs_tag(job_id)]))
        )
    by_index: dict[int, list[Any]] = defaultdict(list)
    for run in runs:
        by_index[int(run.parameters["job"]["chunk"]["index"])].append(run)
    return by_index


def _flow_run_process(flow_run_id: str) -> psutil.Process | None:
    """The outermost process running the flow run (its ffmpeg children carry the same id)."""
    mine = []
    for proc in psutil.process_iter(["pid", "ppid"]):
        try:
            if proc.environ().get("PREFECT__FLOW_RUN_ID") == flow_run_id:
                mine.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    pids = {p.pid for p in mine}
    top = [p for p in mine if p.info["ppid"] not in pids]
    return top[0] if len(top) == 1 else None


def _run_count(flow_run_id: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).run_count  # type: ignore[arg-type]


def _worker_done_with(api_url: str, flow_run_id: str) -> bool:
    """True once a worker emitted ``prefect.worker.executed-flow-run`` for the run: it ran the
    run's crash hooks and released its slot."""
    import httpx

    body = {"filter": {"event": {"name": ["prefect.worker.executed-flow-run"]}}, "limit": 50}
    events = httpx.post(f"{api_url}/events/filter", json=body, timeout=10).json()["events"]
    return any(
        r.get("prefect.resource.id") == f"prefect.flow-run.{flow_run_id}"
        for e in events
        for r in e.get("related", [])
    )


def _frames(path: Path) -> int:
    return len(frame_pts(path))


@pytest.mark.timeout(600)
def test_crashed_parent_runs_again_and_reuses_the_chunks_verified_in_scratch(
    own_api: str, chunk_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    source = flash_beep(tmp_path / "crash.mp4", size="320x180", rate=25, seconds=10, moving=True)
    job_id = "chunked-crash"
    store = open_store(chunk_settings)
    with (
        pool_worker(
            own_api, "reelflow-process", "process", "media-chunk-process",
            log=tmp_path / "chunks.log", create_pool=False,
        ),
        pool_worker(
            own_api, "reelflow-process", "process", "media-job-process",
            log=tmp_path / "parent.log", create_pool=False,
        ),
    ):  # fmt: skip
        parent = str(
            submit(
                JobRequest(source=str(source), preset="tiny", job_id=job_id),
                "media-job/media-job-process",
            )
        )
        wait_until(
            lambda: store.exists(chunk_record_key(job_id, 0)),
            240,
            "chunk 0 encoded, verified and recorded in scratch",
            poll=0.1,
        )
        process = wait_until(lambda: _flow_run_process(parent), 30, "the parent's process")
        os.kill(process.pid, signal.SIGKILL)  # a real crash: no finally, no hook in the job
        done_at_kill = {i for i in range(CHUNKS) if store.exists(chunk_record_key(job_id, i))}
        # Prefect's runner in the parent's worker reports Crashed and runs the crash hook: the
        # job stays RUNNING with its scratch, the chunk runs still going are canceled.
        wait_until(lambda: _worker_done_with(own_api, parent), 120, "the worker done with the run")
        assert wait_for_run(parent, 10).name == "Crashed"
        assert ledger().get(job_id).status == "RUNNING"
        assert store.exists(chunk_record_key(job_id, 0))
        # The scheduled reaper, run here: it schedules the crashed run again.
        wait_until(
            lambda: job_id in reap_jobs(ledger(), get_settings())["retried"],
            60,
            "the reaper to run the crashed job again",
            poll=0.5,
        )
        final = wait_for_run(parent, 400, poll_s=0.5)  # AwaitingRetry .. Completed
        runs = _chunk_runs_by_index(job_id)

    assert final.is_completed(), final
    assert _run_count(parent) == 2  # killed once, run again once
    job = ledger().get(job_id)
    assert job.status == "SUCCEEDED", (job.status, job.error_code, job.error_message)

    # The chunks scratch proved at the kill were not encoded again: one chunk run each, ever.
    assert 0 in done_at_kill and done_at_kill != set(range(CHUNKS))
    assert sorted(runs) == list(range(CHUNKS))
    for index in done_at_kill:
        assert len(runs[index]) == 1, (index, [r.state.name for r in runs[index]])
        assert runs[index][0].state.is_completed()
    # The others were (canceled by the crash hook or never started, then run again).
    for index in set(range(CHUNKS)) - done_at_kill:
        assert any(r.state.is_completed() for r in runs[index]), index
    assert sum(len(v) for v in runs.values()) > CHUNKS

    assert store.list_keys(f"scratch/{job_id}/") == []  # scratch gone once the job ended
    chunked = tmp_path / "chunked.mp4"
    chunked.write_bytes(store.get_bytes(f"jobs/{job_id}/video.mp4"))

    # The same source in one pass (no chunks), in this process.
    monkeypatch.setenv("REELFLOW_MEDIA__CHUNK_THRESHOLD_S", "600")
    get_settings.cache_clear()
    single_state = media_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    assert single_state.is_completed(), single_state.message
    single = tmp_path / "single.mp4"
    single.write_bytes(store.get_bytes(f"jobs/{single_state.result().job_id}/video.mp4"))
    assert _frames(chunked) == _frames(single) == 250
    assert frame_pts(chunked) == frame_pts(single)
