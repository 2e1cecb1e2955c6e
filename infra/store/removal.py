"""The one checked way to remove a job's things: its objects in each key area and its work folder.

Cleanup, the cancel/failure hooks, the sweeper, retention and the job API's delete all go through
these two functions. Both rebuild their target from a validated job id (``infra.store.layout``) and
refuse anything that does not resolve strictly inside that job's own prefix or folder: a job id of
``..`` or ``.`` or a work folder swapped for a symlink can never make them touch another job, the
bucket root or the reelflow home.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from infra.errors import StorageRejected
from infra.store.artifacts import ArtifactStore
from infra.store.layout import Area, job_prefix, validate_job_id

__all__ = ["delete_job_objects", "job_work_dir", "remove_work_dir"]

log = logging.getLogger("reelflow.removal")


def delete_job_objects(
    store: ArtifactStore, job_id: str, areas: Iterable[Area] = (Area.JOBS,)
) -> int:
    """Delete every object under ``<area>/<job_id>/`` for each area; returns how many went."""
    removed = 0
    for area in areas:
        removed += store.delete_prefix(job_prefix(job_id, area))
    return removed


def job_work_dir(root: Path, job_id: str) -> Path:
    """``<root>/<job_id>``: the job's private work folder (not created here)."""
    base = root.resolve()
    path = base / validate_job_id(job_id)
    if path.parent != base or path == base:  # cannot happen for a valid id; kept as a fence
        raise StorageRejected(f"job id {job_id!r} does not name a folder under {base}")
    return path


def remove_work_dir(root: Path, job_id: str) -> bool:
    """Remove the job's work folder; True when nothing is left. Never raises for I/O errors.

    A work folder that is a symlink is unlinked, never followed; ``shutil.rmtree`` does not
    follow symlinks inside the folder either.
    """
    path = job_work_dir(root, job_id)
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    except OSError:
        log.exception("could not remove work dir %s", path)
    if path.exists() or path.is_symlink():
        log.error("could not remove work dir %s", path)
        return False
    return True
