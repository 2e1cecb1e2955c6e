"""Cleanup: the job's work directory always; on failure or cancel its uncommitted objects.

Cleanup never fails the job: what it cannot remove it logs (the sweeper catches it later).
Everything is derived from the job id through the checked helpers of ``infra/store/removal.py``,
so the flow's ``finally`` and the state hooks (possibly in a fresh process) do the same thing.
"""

from __future__ import annotations

import logging
import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import ReelflowError
from infra.jobs.models import JobKind
from infra.logs import job_context
from infra.store.artifacts import ArtifactStore
from infra.store.layout import MANIFEST, Area, job_prefix
from infra.store.ledger import JobLedger
from infra.store.removal import delete_job_objects, remove_work_dir
from tasks.stage import JobContext

__all__ = ["UPLOAD_SETTLE_S", "cleanup_stage", "discard_after_cancel", "discard_uncommitted"]

log = logging.getLogger("reelflow.cleanup")
# A PUT the killed job had fully sent can still land after the first delete (it was on the wire);
# a second pass this much later removes it. The sweeper removes anything later still.
UPLOAD_SETTLE_S = 2.0


def discard_uncommitted(store: ArtifactStore, job_id: str) -> int:
    """Delete the job's output and scratch objects unless its manifest exists; how many went."""
    with job_context(job_id):
        try:
            if store.exists(job_prefix(job_id) + MANIFEST):
                return delete_job_objects(store, job_id, (Area.SCRATCH,))
            removed = delete_job_objects(store, job_id, (Area.JOBS, Area.SCRATCH))
        except ReelflowError:
            log.exception("could not remove uncommitted objects of %s", job_id)
            return 0
        if removed:
            log.info("removed %d uncommitted objects", removed)
        return removed


def discard_after_cancel(store: ArtifactStore, ledger: JobLedger, job_id: str) -> int:
    """Delete a canceled job's uncommitted objects, twice when it was canceled mid-upload."""
    removed = discard_uncommitted(store, job_id)
    job = ledger.get(job_id)
    if job is not None and job.stage == "upload":
        time.sleep(UPLOAD_SETTLE_S)
        removed += discard_uncommitted(store, job_id)
    return removed


@task(name="cleanup", cache_policy=NO_CACHE)
def cleanup_stage(ctx: JobContext) -> bool:
    """Remove the job's work folder and (media jobs) its scratch area; True when nothing is left.

    Scratch (chunk outputs) is never committed, so it goes in every outcome; the chunk runs
    have stopped by now (the encode stage stops them on any way out but success).
    """
    scratch_gone = True
    if ctx.kind == JobKind.MEDIA:
        try:
            delete_job_objects(ctx.store(), ctx.job_id, (Area.SCRATCH,))
        except ReelflowError:
            log.exception("could not remove the scratch objects of %s", ctx.job_id)
            scratch_gone = False
    return remove_work_dir(ctx.settings.work_dir_root, ctx.job_id) and scratch_gone
