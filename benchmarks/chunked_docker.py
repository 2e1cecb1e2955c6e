"""Chunked encode on TWO Docker workers vs ONE (each chunk container limited to one CPU), side by
side; then, from the measured chunk costs, the projected wall time for 4, 8 and 16 workers.

The same job twice (a 720p30 source with a 2 s GOP, preset ``sd``: three rungs), through the real
path: the ``media-job`` flow in this process against a Prefect test server (it probes, plans,
puts the source in scratch, encodes the one audio track, verifies and joins, packages, gates and
uploads), its chunks as ``media-chunk/media-chunk-docker`` flow runs (the deployment of
prefect.yaml: ``nano_cpus`` = one CPU per container) taken by prefect-docker workers with
``--limit 1`` each, on the locked pool template of ``reelflow bootstrap`` (host networking,
secrets folder, no other mount), moto's S3 server as the store. First with one worker, then with
a second one started beside it. Needs the engine and the image (``make image``).

    .venv/bin/python benchmarks/chunked_docker.py [--seconds 60] [--chunks 4]

Per chunk run it reads Prefect's own records: Pending (the worker took it) → Completed, and the
``encode-chunk`` task's run time inside it (download of the source from scratch, re-probe,
encode of every rung, frame count and sha256, upload). Encode cost = task time per second of
video; fixed cost = the rest of the chunk run (container start, Prefect engine, pull step,
teardown) plus the worker's poll. The parent's serial parts: before the first chunk run exists
(probe, keyframes, source upload) and after the last one ended (fetch + verify + join, HLS,
storyboard, gate, upload), both per second of video.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from benchmarks.chunked_vs_single import make_source  # noqa: E402

PROJECT_SOURCE_S = 30 * 60.0
PROJECT_WORKERS = (1, 2, 4, 8, 16)


@dataclass
class ChunkCost:
    index: int
    video_s: float
    task_s: float  # encode-chunk task: download, probe, encode, verify, upload
    run_s: float  # Pending (worker took it) -> Completed
    created: float  # epoch seconds
    pending: float
    ended: float

    @property
    def fixed_s(self) -> float:
        return self.run_s - self.task_s


@dataclass
class JobCost:
    workers: int
    wall_s: float
    started: float  # epoch seconds, the parent's start
    ended: float
    chunks: list[ChunkCost]

    @property
    def pre_s(self) -> float:
        return min(c.created for c in self.chunks) - self.started

    @property
    def chunk_phase_s(self) -> float:
        return max(c.ended for c in self.chunks) - min(c.created for c in self.chunks)

    @property
    def post_s(self) -> float:
        return self.ended - max(c.ended for c in self.chunks)


def _chunk_costs(job_id: str, fps: float, frames: int) -> list[ChunkCost]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterTags

    from tasks.media.chunked import chunk_runs_tag

    costs = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[chunk_runs_tag(job_id)]))
        )
        for run in runs:
            assert run.state is not None and run.state.is_completed(), run.state
            chunk = run.parameters["job"]["chunk"]
            end = chunk["end"] if chunk["end"] is not None else frames
            states = client.read_flow_run_states(run.id)
            pending = min(s.timestamp for s in states if s.type.value == "PENDING")
            done = max(s.timestamp for s in states if s.type.value == "COMPLETED")
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            )
            task = next(t for t in tasks if t.name.startswith("encode-chunk"))
            assert task.start_time is not None and task.end_time is not None
            costs.append(
                ChunkCost(
                    index=int(chunk["index"]),
                    video_s=(end - chunk["start"]) / fps,
                    task_s=(task.end_time - task.start_time).total_seconds(),
                    run_s=(done - pending).total_seconds(),
                    created=run.created.timestamp() if run.created else pending.timestamp(),
                    pending=pending.timestamp(),
                    ended=done.timestamp(),
                )
            )
    return sorted(costs, key=lambda c: c.index)


def _run_job(source: Path, workers: int) -> JobCost:
    import json

    from flows.media_job import media_job
    from infra.jobs.models import JobRequest
    from infra.settings import get_settings
    from infra.store.artifacts import open_store

    started = time.time()
    begin = time.monotonic()
    result = media_job(JobRequest(source=str(source), preset="sd"))
    wall = time.monotonic() - begin
    ended = time.time()
    manifest = json.loads(open_store(get_settings()).get_bytes(result.manifest_key or ""))
    plan = manifest["plan"]
    fps = float(Fraction(str(plan["fps"])))
    chunks = _chunk_costs(result.job_id, fps, int(plan["frames"]))
    return JobCost(workers, wall, started, ended, chunks)


def _report(one: JobCost, two: JobCost, source_s: float, load: tuple[str, str]) -> None:
    print(f"\nmachine load before / after: {load[0]} / {load[1]}")
    print(
        f"source: {source_s:g} s 1280x720@30 (2 s GOP) -> sd ladder (3 rungs), "
        f"{len(one.chunks)} chunks; chunk containers nano_cpus=1e9 (one CPU each)"
    )
    print("| | 1 worker | 2 workers | 1 / 2 |")
    print("|---|---:|---:|---:|")
    for label, a, b in (
        ("job wall", one.wall_s, two.wall_s),
        ("before the first chunk run (probe, source to scratch)", one.pre_s, two.pre_s),
        ("chunk phase (first run created -> last completed)", one.chunk_phase_s, two.chunk_phase_s),
        ("after the last chunk (verify, join, HLS, gate, upload)", one.post_s, two.post_s),
    ):
        print(f"| {label} | {a:.1f} s | {b:.1f} s | {a / b:.2f}x |")
    for job in (one, two):
        print(f"per chunk, {job.workers} worker(s):")
        for c in job.chunks:
            print(
                f"  chunk {c.index}: {c.video_s:5.1f} s of video, task {c.task_s:6.1f} s "
                f"({c.task_s / c.video_s:.2f} s/s), run {c.run_s:6.1f} s, fixed {c.fixed_s:5.1f} s"
            )
    print(
        f"speed-up 2 workers vs 1: job wall {one.wall_s / two.wall_s:.2f}x (target >= 1.7x), "
        f"chunk phase {one.chunk_phase_s / two.chunk_phase_s:.2f}x"
    )
    for job in (one, two):
        rate = sum(c.task_s for c in job.chunks) / sum(c.video_s for c in job.chunks)
        fixed = statistics.median(c.fixed_s for c in job.chunks)
        print(
            f"  {job.workers} worker(s): chunk task {rate:.2f} s per s of video, "
            f"median fixed {fixed:.1f} s per chunk run"
        )

    # The model, from the one-worker run (no two chunk containers competing for the 2 cores).
    encode_rate = sum(c.task_s for c in one.chunks) / sum(c.video_s for c in one.chunks)
    fixed = statistics.median(c.fixed_s for c in one.chunks)
    pre_rate, post_rate = one.pre_s / source_s, one.post_s / source_s

    def project(duration_s: float, chunk_s: float, workers: int) -> tuple[float, int]:
        count = max(1, round(duration_s / chunk_s))
        waves = math.ceil(count / workers)
        per_chunk = encode_rate * duration_s / count + fixed
        return (pre_rate + post_rate) * duration_s + waves * per_chunk, count

    print(
        f"model (from the 1-worker run): chunk encode {encode_rate:.2f} s per s of video on one "
        f"CPU, fixed {fixed:.1f} s per chunk run, parent before {pre_rate:.3f} s/s and after "
        f"{post_rate:.3f} s/s of video (serial)"
    )
    chunk_here = source_s / len(one.chunks)
    for n in (1, 2):
        wall, _ = project(source_s, chunk_here, n)
        measured = one.wall_s if n == 1 else two.wall_s
        print(f"  check, {n} worker(s) here: model {wall:.0f} s, measured {measured:.0f} s")
    from infra.settings.media import MediaSettings

    chunk_default = MediaSettings().chunk_s
    print(
        f"projection, {PROJECT_SOURCE_S / 60:.0f}-minute source, chunks of {chunk_default:g} s "
        "(REELFLOW_MEDIA__CHUNK_S default), one CPU per worker:"
    )
    print("| workers | chunks | projected wall | vs 1 worker |")
    print("|---:|---:|---:|---:|")
    base, _ = project(PROJECT_SOURCE_S, chunk_default, 1)
    for n in PROJECT_WORKERS:
        wall, count = project(PROJECT_SOURCE_S, chunk_default, n)
        print(f"| {n} | {count} | {wall / 60:.1f} min | {base / wall:.2f}x |")
    serial = (pre_rate + post_rate) * PROJECT_SOURCE_S
    print(f"serial part of the parent on that source: {serial / 60:.1f} min (the floor)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--chunks", type=int, default=4)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from infra.settings import get_settings
    from infra.store.artifacts import S3Store
    from tests.support.docker_pool import docker, ensure_docker_pool, job_secrets
    from tests.support.tools import free_port, pool_worker

    if docker("image", "inspect", "reelflow-worker:latest").returncode != 0:
        raise SystemExit("reelflow-worker:latest is missing: make image")
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="reelflow-chunk-docker-"))
    port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    segment_s = 2
    os.environ.update(
        REELFLOW_HOME=str(tmp / "home"),
        REELFLOW_INPUT__ROOTS=str(tmp),
        REELFLOW_STORAGE__BACKEND="s3",
        REELFLOW_STORAGE__S3_ENDPOINT=f"127.0.0.1:{port}",
        REELFLOW_STORAGE__BUCKET="reelflow",  # the bucket media-chunk-docker's env names
        REELFLOW_RENDER__HLS_SEGMENT_S=str(segment_s),
        REELFLOW_MEDIA__CHUNK_THRESHOLD_S="1",
        REELFLOW_MEDIA__CHUNK_S=str(segment_s * round(args.seconds / args.chunks / segment_s)),
        REELFLOW_MEDIA__CHUNK_POLL_S="0.5",
        REELFLOW_MEDIA__CHUNK_DEPLOYMENT="media-chunk/media-chunk-docker",
        # The workers alone: the parent, in this process and outside the one-CPU containers,
        # never encodes a chunk itself (in a deployment it holds a worker slot of its own).
        REELFLOW_MEDIA__PARENT_ENCODES="false",
        REELFLOW_LOG__LEVEL="WARNING",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    get_settings.cache_clear()
    settings = get_settings()
    S3Store.from_settings(settings).ensure_bucket()
    unused_ledger = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"  # chunks keep none
    secrets = job_secrets(settings, unused_ledger, tmp / "secrets")
    source = make_source(tmp / "source.mp4", args.seconds)
    jobs: list[JobCost] = []
    try:
        with prefect_test_harness(server_startup_timeout=180), ExitStack() as stack:
            api = str(PREFECT_API_URL.value())
            ensure_docker_pool(api, settings, secrets)
            for workers in (1, 2):
                stack.enter_context(
                    pool_worker(
                        api, "reelflow-docker", "docker", "media-chunk-docker",
                        log=tmp / f"worker{workers}.log", create_pool=False,
                        deploy=workers == 1, limit=1,
                    )
                )  # fmt: skip
                job = _run_job(source, workers)
                jobs.append(job)
                print(
                    f"{workers} worker(s): job wall {job.wall_s:.1f} s, "
                    f"{len(job.chunks)} chunk runs",
                    flush=True,
                )
    finally:
        s3.stop()
        left = docker("ps", "-aq", "--filter", "label=io.reelflow.role=job").stdout.split()
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    _report(
        jobs[0],
        jobs[1],
        args.seconds,
        (" ".join(f"{x:.2f}" for x in load_before), " ".join(f"{x:.2f}" for x in load_after)),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
