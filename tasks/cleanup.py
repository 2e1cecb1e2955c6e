"""Cleanup stage: remove the job's work directory, and on failure its uncommitted objects.

Cleanup never fails the job: what it cannot remove it logs. Everything is derived from the job id,
so the flow's ``finally`` and the state hooks (possibly in a fresh process) can both call it.
"""

from __future__ import annotations

import logging
import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import ReelflowError
from infra.logs import job_context
from infra.settings import get_settings
from infra.store.artifacts import open_store
from tasks.stage import job_prefix, ledger, remove_work_dir
from tasks.upload import MANIFEST

__all__ = ["UPLOAD_SETTLE_S", "cleanup_stage", "discard_after_cancel", "discard_uncommitted"]

log = logging.getLogger("reelflow.cleanup")
# A PUT the killed job had fully sent can still land after the first delete (it was on the wire);
# a second pass this much later removes it. The sweeper removes anything later still.
UPLOAD_SETTLE_S = 2.0


def discard_uncommitted(job_id: str) -> int:
    """Delete the job's objects unless its manifest exists; returns how many were removed."""
    with job_context(job_id):
        try:
            store = open_store(get_settings())
            prefix = job_prefix(job_id)
            if store.exists(prefix + MANIFEST):
                return 0
            removed = store.delete_prefix(prefix)
        except ReelflowError:
            log.exception("could not remove uncommitted objects of %s", job_id)
            return 0
        if removed:
            log.info("removed %d uncommitted objects", removed)
        return removed


def discard_after_cancel(job_id: str) -> int:
    """Delete a canceled job's uncommitted objects, twice when it was canceled mid-upload."""
    removed = discard_uncommitted(job_id)
    job = ledger().get(job_id)
    if job is not None and job.stage == "upload":
        time.sleep(UPLOAD_SETTLE_S)
        removed += discard_uncommitted(job_id)
    return removed


@task(name="cleanup", cache_policy=NO_CACHE)
def cleanup_stage(job_id: str) -> bool:
    with job_context(job_id):
        return remove_work_dir(job_id)
