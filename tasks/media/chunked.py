"""Chunked encodes across flow runs: the parent fans chunks out, each chunk run encodes one.

Parent (inside the encode stage of ``media-job``): split the plan at keyframe-safe segment starts
(:func:`infra.media.chunks.split_chunks`), put its private source copy in the job's scratch
area, start one ``media-chunk`` flow run per chunk (``run_deployment``, idempotency key = job id +
chunk index, so a retried parent finds the runs it started), encode the one audio track itself
meanwhile, then encode itself, from the last chunk back, every chunk whose run no worker has
taken yet (``media.parent_encodes``: a claim in the ledger decides between the parent and the
run, so each chunk is encoded once; the parent's slot is never idle, and a pool with no free
slot for chunk runs cannot leave the job waiting), wait for the other runs, fetch each of their
chunks from scratch and verify it against its record (sha256 and frame count), then join every
rung by stream copy. Chunks already in scratch and verified are reused (a parent that crashed
and runs again). Any way out but success cancels every chunk run still going; the scratch
prefix is removed by cleanup, the hooks and the sweeper.

A parent whose flow run crashes (its process killed, its container gone, its host lost) is run
again as the same flow run, up to ``media.crash_retries`` times: the crash hook (where Prefect
runs one) keeps the job RUNNING and its scratch, the reaper sees the Crashed run and schedules it
again (:func:`retry_crashed_parent`) after canceling its chunk runs still going, and the next
attempt starts runs (idempotency keys of that attempt) only for the chunks scratch cannot prove;
so does an encode stage retried after a retryable error (its attempt is in the keys too).

Chunk run (``flows/media_chunk.py``): its parameters are hostile like any request. It takes only
the job id, the scratch key of the source, the preset and segment length, the chunk's frame
numbers and the plan's digest. It takes its chunk first (the claim row of its own idempotency
key, as Prefect recorded it; it ends at once, encoding nothing, when its parent took the chunk
over), probes the source and plans again (the same pure plan), refuses a plan that differs from
the parent's, encodes its frames, uploads the files, and writes its record last (the chunk's
commit).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from pydantic import BaseModel, ConfigDict, Field

from infra.errors import (
    FFmpegFailed,
    InputInvalid,
    LedgerUnavailable,
    PrefectUnavailable,
    ReelflowError,
    UserCanceled,
    code_from_message,
    error_of_code,
)
from infra.jobs.limits import effective_limits
from infra.jobs.models import JobLimits, PresetName
from infra.jobs.sources import copy_bounded
from infra.media.chunks import (
    ChunkRecord,
    ChunkSpec,
    chunk_files,
    chunk_reusable,
    encode_chunk,
    join_chunks,
    source_keyframes,
    split_chunks,
)
from infra.media.facts import probe_facts
from infra.media.outputs import safe_key_name
from infra.media.plan import MediaPlan, plan_media
from infra.media.presets import MEDIA_PRESETS
from infra.media.transcode import audio_track_argv
from infra.prefect import client as prefect
from infra.process.runner import ProcessGuard, run_process
from infra.process.watchdog import JobWatchdog
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore, open_store
from infra.store.layout import JOB_ID_PATTERN
from infra.store.ledger import JobLedger, JobStatus
from infra.store.scratch import chunk_key, chunk_record_key, is_scratch_source, scratch_source_key
from tasks.media.probe import MediaSource
from tasks.render.document import media_deadlines
from tasks.stage import JobContext

__all__ = [
    "CHUNK_WAIT_S",
    "ChunkJob",
    "chunk_runs_tag",
    "chunk_stage",
    "crash_retry_left",
    "encode_chunk_job",
    "encode_in_chunks",
    "plan_digest",
    "retry_crashed_parent",
    "stop_chunk_runs",
    "wants_chunks",
]

log = logging.getLogger("reelflow.chunks")
CHUNK_WAIT_S = 60.0  # how long a failed or canceled parent waits for its chunk runs to stop


def chunk_runs_tag(job_id: str) -> str:
    """The tag of every chunk run of ``job_id`` (the hooks cancel by it)."""
    return f"chunks-of:{job_id}"


class ChunkJob(BaseModel):
    """The ``media-chunk`` flow's one parameter (untrusted: every field is checked)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    source_key: str = Field(max_length=512)
    name: str = Field(max_length=512)  # the source's original name: part of the plan
    preset: PresetName
    segment_s: int = Field(ge=1, le=60)
    chunk: ChunkSpec
    plan_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


def plan_digest(plan: MediaPlan) -> str:
    return hashlib.sha256(plan.model_dump_json().encode()).hexdigest()


def wants_chunks(plan: MediaPlan, settings: Settings) -> bool:
    """A single video source longer than the threshold is encoded in chunks."""
    return (
        plan.kind == "video"
        and len(plan.sources) == 1
        and plan.duration_s > settings.media.chunk_threshold_s
    )


def _download(store: ArtifactStore, key: str, target: Path, max_bytes: int) -> str:
    target.unlink(missing_ok=True)
    return copy_bounded(store.iter_chunks(key), target, max_bytes, target.name)


def _check_files(job_id: str, plan: MediaPlan, chunk: ChunkSpec, folder: Path) -> list[Path]:
    """The chunk's local files, each name checked as a scratch file name."""
    files = chunk_files(plan, chunk, folder)
    for path in files:
        chunk_key(job_id, path.name)
    return files


def fetch_verified(
    store: ArtifactStore,
    job_id: str,
    plan: MediaPlan,
    chunk: ChunkSpec,
    folder: Path,
    *,
    settings: Settings,
    guard: ProcessGuard | None,
) -> bool:
    """Download the chunk's files from scratch; True if all match the chunk's record."""
    record_key = chunk_record_key(job_id, chunk.index)
    if not store.exists(record_key):
        return False
    try:
        records = [ChunkRecord.model_validate(r) for r in json.loads(store.get_bytes(record_key))]
    except (ValueError, TypeError):
        return False
    files = _check_files(job_id, plan, chunk, folder)
    if [r.file for r in records] != [f.name for f in files]:
        return False
    for path, record in zip(files, records, strict=True):
        if store.size_of(chunk_key(job_id, path.name)) != record.bytes:
            return False
        _download(store, chunk_key(job_id, path.name), path, record.bytes)
        if not chunk_reusable(
            path,
            record,
            ffprobe=settings.render.ffprobe_bin,
            deadlines=media_deadlines(settings),
            guard=guard,
        ):
            return False
    return True


def _stop_if_canceled(ctx: JobContext) -> None:
    """UserCanceled once the job is canceled (its guard, or its row in the ledger)."""
    ctx.guard.check()
    job = ctx.ledger.get(ctx.job_id)
    if job is not None and job.status == JobStatus.CANCELED:
        raise UserCanceled(f"job {ctx.job_id} was canceled while its chunks were encoding")


def _encode(
    source: Path,
    plan: MediaPlan,
    chunk: ChunkSpec,
    folder: Path,
    settings: Settings,
    guard: ProcessGuard | None,
) -> list[ChunkRecord]:
    """One chunk from ``source`` into ``folder`` with the settings' tools (parent or run)."""
    render = settings.render
    return encode_chunk(
        source,
        plan,
        chunk,
        folder,
        ffmpeg=render.ffmpeg_bin,
        ffprobe=render.ffprobe_bin,
        threads=render.ffmpeg_threads,
        deadlines=media_deadlines(settings),
        guard=guard,
    )


def chunk_key_suffix(flow_attempt: int, stage_attempt: int) -> str:
    """What sets one attempt's chunk-run idempotency keys apart from another's: the parent flow
    run's attempt (a crashed parent run again) and the encode stage's (a retried stage); empty
    for the first of both, so a first attempt's keys are ``<job>-chunk-<k>`` as before."""
    suffix = f"-try-{flow_attempt}" if flow_attempt > 1 else ""
    return suffix + (f"-stage-{stage_attempt}" if stage_attempt > 1 else "")


# The codes a chunk run's own work fails with; the job fails with the chunk's code when it is one
# of these. Any other (a chunk's checks of its parameters, which only a worker whose settings
# differ from the parent's or a forged run trips, or no code: a canceled run) is ffmpeg_failed,
# the chunk's message kept in the job's error.
CHUNK_FAILURE_CODES = frozenset(
    {
        "ffmpeg_failed",
        "ffmpeg_stalled",
        "ffmpeg_timeout",
        "resource_limit_exceeded",
        "storage_rejected",
        "storage_unavailable",
        "worker_timeout",  # its worker or host was lost (Prefect's heartbeat automation)
    }
)
WAIT_OUTAGE_S = 120.0  # the ledger or Prefect may not answer this long while chunks encode


def chunk_failure(index: int, run_id: str, state: prefect.RunState) -> ReelflowError:
    """The error a chunk run that ended ``state`` (not Completed) fails its job with."""
    code = code_from_message(state.message)
    return error_of_code(
        code if code in CHUNK_FAILURE_CODES else None,
        f"chunk {index} (flow run {run_id}) ended {state.name}: {state.message or ''}",
        default=FFmpegFailed,
    )


def _wait_for(
    ctx: JobContext, runs: dict[int, str], on_progress: Callable[[float], None] | None
) -> None:
    """Until every chunk run completed. One that ended otherwise fails the stage with its code
    (:func:`chunk_failure`); a retryable one (storage gone for longer than the chunk's
    retries) retries the stage, with fresh runs. The ledger or Prefect not answering for a
    while (up to ``WAIT_OUTAGE_S``) does not fail the stage: that would cancel healthy runs."""
    pending = dict(runs)
    outage_since: float | None = None
    while pending:
        try:
            _stop_if_canceled(ctx)
            states = {index: prefect.read_run_state(run_id) for index, run_id in pending.items()}
        except (LedgerUnavailable, PrefectUnavailable) as exc:
            outage_since = outage_since or time.monotonic()
            if time.monotonic() - outage_since > WAIT_OUTAGE_S:
                raise
            log.warning("still waiting for %d chunk runs: %s", len(pending), exc)
            time.sleep(ctx.settings.media.chunk_poll_s)
            continue
        outage_since = None
        for index, state in states.items():
            if state is None or not state.final:
                continue
            if state.type != "COMPLETED":
                raise chunk_failure(index, pending[index], state)
            del pending[index]
        if on_progress is not None:
            on_progress(1 - len(pending) / max(len(runs), 1))
        if pending:
            time.sleep(ctx.settings.media.chunk_poll_s)


def encode_in_chunks(
    ctx: JobContext,
    source: MediaSource,
    plan: MediaPlan,
    renditions: list[Path],
    on_progress: Callable[[float], None] | None = None,
) -> None:
    """The parent's side: fan out, wait, verify, join (see the module docstring)."""
    settings = ctx.settings
    cfg, render = settings.media, settings.render
    deadlines, guard = media_deadlines(settings), ctx.guard
    store = ctx.store()
    folder = ctx.work_dir / "chunks"
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(source.path)
    keyframes = source_keyframes(
        path, source.facts, ffprobe=render.ffprobe_bin, deadlines=deadlines, guard=guard
    )
    chunks = split_chunks(plan, chunk_s=cfg.chunk_s, keyframes_s=keyframes)
    source_key = scratch_source_key(ctx.job_id, safe_key_name(source.name))
    if store.size_of(source_key) != source.size:
        with ctx.doing("upload"):
            store.put_file(source_key, path)
    digest = plan_digest(plan)
    # A parent run again after a crash, or an encode stage retried after a retryable error,
    # starts fresh chunk runs (the way out of the earlier attempt canceled the old ones): both
    # attempts are part of the key, so Prefect does not hand back a canceled run.
    attempt = prefect.run_count(ctx.flow_run_id) if ctx.flow_run_id else 1
    suffix = chunk_key_suffix(attempt, task_run.get_run_count())
    runs: dict[int, str] = {}
    keys: dict[int, str] = {}  # chunk index -> its run's idempotency key (the claim's key)
    finished = False
    try:
        for chunk in chunks:
            if fetch_verified(
                store, ctx.job_id, plan, chunk, folder, settings=settings, guard=ctx.guard
            ):
                log.info("chunk %d reused from scratch (checksums match)", chunk.index)
                continue
            job = ChunkJob(
                job_id=ctx.job_id,
                source_key=source_key,
                name=source.name,
                preset=plan.preset,
                segment_s=plan.segment_s,
                chunk=chunk,
                plan_sha256=digest,
            )
            key = f"{ctx.job_id}-chunk-{chunk.index}{suffix}"
            ctx.ledger.assign_chunk(ctx.job_id, key)  # before the run exists: it looks it up
            created = prefect.create_flow_run(
                cfg.chunk_deployment,
                {"job": job.model_dump(mode="json")},
                idempotency_key=key,
                tags=["reelflow", "media-chunk", chunk_runs_tag(ctx.job_id)],
            )
            runs[chunk.index] = str(created)
            keys[chunk.index] = key
        log.info(
            "%d chunks: %d started, %d reused", len(chunks), len(runs), len(chunks) - len(runs)
        )
        audio = None
        if plan.audio is not None:  # one audio track for the whole file, while chunks encode
            audio = folder / "audio.m4a"
            run_process(
                audio_track_argv(render.ffmpeg_bin, path, plan, audio),
                ffmpeg_progress=True,
                deadlines=deadlines,
                guard=guard,
            )
        if cfg.parent_encodes:
            _encode_unclaimed(ctx, path, plan, chunks, runs, keys, folder, store)
        _wait_for(ctx, runs, on_progress)
        for chunk in chunks:
            if chunk.index in runs and not fetch_verified(
                store, ctx.job_id, plan, chunk, folder, settings=settings, guard=ctx.guard
            ):
                raise FFmpegFailed(f"chunk {chunk.index} in scratch does not match its record")
        join_chunks(
            plan,
            chunks,
            folder,
            renditions,
            audio=audio,
            ffmpeg=render.ffmpeg_bin,
            deadlines=deadlines,
            guard=guard,
        )
        finished = True
    finally:
        if not finished and runs:
            stop_chunk_runs(ctx.job_id)


def _upload_chunk(
    store: ArtifactStore, job_id: str, index: int, records: list[ChunkRecord], folder: Path
) -> None:
    """A chunk's files, then its record (the chunk's commit in scratch)."""
    for record in records:
        store.put_file(chunk_key(job_id, record.file), folder / record.file)
    store.put_bytes(
        chunk_record_key(job_id, index),
        json.dumps([r.model_dump() for r in records]).encode(),
        "application/json",
    )


def _encode_unclaimed(
    ctx: JobContext,
    source: Path,
    plan: MediaPlan,
    chunks: list[ChunkSpec],
    runs: dict[int, str],
    keys: dict[int, str],
    folder: Path,
    store: ArtifactStore,
) -> None:
    """Encode here, from the last chunk back, every chunk whose run no worker has taken yet.

    A parent waiting for its chunks would leave its own worker slot idle (and wait forever on a
    pool with no free slot): it claims a chunk whose run is still scheduled (the ledger's claim:
    the first of the parent and the run wins), cancels that run and encodes the chunk from its
    own copy of the source, with no process start, download or re-probe. A run a worker took
    meanwhile finds the claim taken and ends at once. Claimed chunks leave ``runs``; their files
    and record go to scratch like a chunk run's (a crashed parent's next attempt reuses them).
    Taking over is an optimisation: when Prefect or the ledger does not answer, the parent stops
    taking and waits for the runs, as it would without it.
    """
    by_index = {chunk.index: chunk for chunk in chunks}
    for index in sorted(runs, reverse=True):
        _stop_if_canceled(ctx)
        try:
            state = prefect.read_run_state(runs[index])
            if state is None or not state.scheduled:
                continue  # a worker has it (or it ended): the wait and the checks handle it
            if ctx.ledger.take_chunk(keys[index], "parent") != "parent":
                continue  # its run started first
        except Exception:  # noqa: BLE001 - see the docstring: waiting is always right
            log.warning("could not take chunk runs over; waiting for them", exc_info=True)
            return
        run_id = runs.pop(index)
        try:  # its run, if a worker starts it anyway, finds the chunk taken and ends at once
            prefect.cancel_flow_run(run_id, f"chunk {index} is encoded by its parent job")
        except Exception:  # noqa: BLE001
            log.warning("could not cancel chunk run %s", run_id, exc_info=True)
        records = _encode(source, plan, by_index[index], folder, ctx.settings, ctx.guard)
        _upload_chunk(store, ctx.job_id, index, records, folder)
        log.info("chunk %d encoded by the parent (no worker had taken its run)", index)


def stop_chunk_runs(job_id: str) -> int:
    """Cancel every chunk run of ``job_id`` still going and wait (bounded) until they ended."""
    try:
        return prefect.cancel_tagged_runs(
            chunk_runs_tag(job_id), f"[user_canceled] job {job_id} stopped", wait_s=CHUNK_WAIT_S
        )
    except Exception:  # the parent's own outcome matters more; the log says why
        log.exception("could not cancel the chunk runs of job %s", job_id)
        return 0


def crash_retry_left(flow_run_id: str, retries: int) -> bool:
    """True while a crashed parent may run again: it has run at most ``retries`` times, and it
    is a deployment's run (one that ``reelflow run`` called in-process has no worker to run it
    again: its crash is final, never a job left RUNNING)."""
    return prefect.run_count(flow_run_id) <= retries and prefect.has_deployment(flow_run_id)


def retry_crashed_parent(job_id: str, flow_run_id: str, retries: int) -> bool:
    """Run a crashed parent again as the same flow run, if it has a retry left; True if so.

    Its chunk runs still going are canceled and awaited first (nothing of the old attempt
    writes to scratch once the new one starts); scratch is kept, so the new attempt reuses every
    chunk whose record and checksums hold. The job stays RUNNING in the ledger (the same run
    claims it again). False, and nothing changed, when the retries are used up or Prefect refuses.
    """
    try:
        if not crash_retry_left(flow_run_id, retries):
            return False
        stop_chunk_runs(job_id)
        retried = prefect.retry_flow_run(
            flow_run_id,
            "[worker_timeout] the flow run crashed; it runs again and reuses the chunks verified "
            "in scratch",
        )
    except ReelflowError:
        log.exception("could not run crashed job %s again", job_id)
        return False
    if retried:
        log.warning("job %s crashed; its flow run %s is scheduled again", job_id, flow_run_id)
    return retried


def _taken_by_parent(settings: Settings, run_key: str | None) -> bool:
    """Take this run's chunk (its claim row, keyed by the run's own idempotency key as Prefect
    has it): True when the parent holds it. A run without a key or a row (started by hand, or by
    a parent from before claims) and a ledger that does not answer go on encoding: at worst the
    chunk is encoded twice, never not at all."""
    if not run_key:
        return False
    try:
        ledger = JobLedger.from_settings(settings.ledger)
        try:
            return ledger.take_chunk(run_key, "run") == "parent"
        finally:
            ledger.dispose()
    except ReelflowError:
        log.warning("chunk claim %s unreadable; encoding anyway", run_key, exc_info=True)
        return False


def encode_chunk_job(
    job: ChunkJob, settings: Settings, work: Path, *, run_key: str | None = None
) -> list[ChunkRecord]:
    """The chunk run's side: claim, fetch, re-plan and compare, encode, upload, record last.

    Nothing (an empty list) when its parent took the chunk over."""
    if not is_scratch_source(job.job_id, job.source_key):
        raise InputInvalid(f"{job.source_key[:120]!r} is not a scratch source of job {job.job_id}")
    if _taken_by_parent(settings, run_key):
        log.info("chunk %d of job %s is encoded by its parent", job.chunk.index, job.job_id)
        return []
    # Bounded like a job: the operator's limits (a request's lowered ones are not among the
    # chunk's parameters, which old and new parents and workers share) on this run's work dir.
    guard = JobWatchdog(
        effective_limits(JobLimits(), settings),
        work,
        interval_s=settings.limits.watchdog_interval_s,
    )
    with guard:
        return _encode_chunk_job(job, settings, work, guard)


def _encode_chunk_job(
    job: ChunkJob, settings: Settings, work: Path, guard: JobWatchdog
) -> list[ChunkRecord]:
    render = settings.render
    deadlines = media_deadlines(settings)
    store = open_store(settings)
    (work / "source").mkdir(parents=True, exist_ok=True)
    source = work / "source" / job.source_key.rsplit("/", 1)[-1]
    _download(store, job.source_key, source, settings.input.max_media_bytes)
    guard.check()
    facts = probe_facts(source, ffprobe=render.ffprobe_bin, deadlines=deadlines, guard=guard)
    plan = plan_media(
        facts,
        MEDIA_PRESETS[job.preset],
        name=job.name,
        segment_s=job.segment_s,
        settings=settings.media,
    )
    if plan_digest(plan) != job.plan_sha256:
        raise InputInvalid(
            "this worker plans the source differently from the parent job (its media settings "
            "differ): chunk refused"
        )
    if job.chunk.start < 0 or job.chunk.start >= plan.frames:
        raise InputInvalid(f"chunk {job.chunk.index} starts outside the plan")
    folder = work / "chunks"
    folder.mkdir(parents=True, exist_ok=True)
    _check_files(job.job_id, plan, job.chunk, folder)
    records = _encode(source, plan, job.chunk, folder, settings, guard=guard)
    _upload_chunk(store, job.job_id, job.chunk.index, records, folder)
    return records


@task(name="encode-chunk", cache_policy=NO_CACHE)
def chunk_stage(
    job: ChunkJob, settings: Settings, work: Path, run_key: str | None
) -> list[ChunkRecord]:
    try:
        return encode_chunk_job(job, settings, work, run_key=run_key)
    except ReelflowError:
        log.exception("chunk %d of job %s failed", job.chunk.index, job.job_id)
        raise
