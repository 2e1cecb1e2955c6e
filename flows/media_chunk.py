"""The ``media-chunk`` flow: one chunk of a long media job, encoded wherever a worker takes it.

Started by the parent ``media-job`` (``tasks/media/chunked.py``), one flow run per chunk, on the
same work pool; never bound to the job concurrency limit (a parent holding a job slot waits for
its chunks). A chunk that failed with a retryable error is retried alone (the task's retries,
the stages' policy); one that failed otherwise (its encode failed, it broke the operator's
limits, which a chunk run is held to like a job) ends at once, and the parent fails the job with
that error's code. Its work folder, named by its own flow run id, is removed in every outcome.
"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from infra.errors import ReelflowError
from infra.logs import configure_logging, job_context
from infra.media.chunks import ChunkRecord
from infra.prefect import client as prefect
from infra.settings import get_settings
from infra.store.removal import job_work_dir, remove_work_dir
from tasks.media.chunked import ChunkJob, chunk_stage
from tasks.stage import retry_on_retryable

__all__ = ["media_chunk"]


def run_key(run_id: str) -> str | None:
    """This run's idempotency key as Prefect recorded it (not a parameter: a forged run has
    another one), the key of its chunk's claim; None when Prefect does not answer."""
    try:
        return prefect.idempotency_key(run_id)
    except ReelflowError:
        return None


@flow(name="media-chunk", log_prints=False)
def media_chunk(job: ChunkJob) -> list[ChunkRecord]:
    """Encode chunk ``job.chunk`` of job ``job.job_id`` into its scratch area."""
    settings = get_settings()
    configure_logging(settings.log.level, settings.log.json_format)
    cfg = settings.stages
    run_id = str(flow_run.id)
    with job_context(job.job_id, flow_run_id=run_id):
        try:
            return chunk_stage.with_options(
                timeout_seconds=cfg.encode_timeout_s,
                retries=cfg.retries,
                retry_delay_seconds=exponential_backoff(backoff_factor=cfg.retry_backoff_s),
                retry_jitter_factor=cfg.retry_jitter,
                retry_condition_fn=retry_on_retryable,
            )(job, settings, job_work_dir(settings.work_dir_root, run_id), run_key(run_id))
        finally:
            remove_work_dir(settings.work_dir_root, run_id)
