"""Keys of a media job's scratch area, ``scratch/<job_id>/``: never committed, always removed.

    scratch/<job_id>/source/<safe name>         the parent's copy of the source, for chunk runs
    scratch/<job_id>/chunks/<chunk file>        one encoded chunk of one rung (chunk_0003_240p.mp4)
    scratch/<job_id>/chunks/chunk_0003.json     the chunk's records (sha256, frame count per rung)

Every key is rebuilt from a checked job id and a checked file name, so a chunk run's parameters
(hostile like any request) cannot point a read or a write anywhere else. The sweeper, cleanup
and the hooks remove the whole ``scratch/<job_id>/`` prefix (``infra/store/removal.py``).
"""

from __future__ import annotations

import re

from infra.errors import InputInvalid
from infra.store.layout import Area, job_prefix

__all__ = ["chunk_key", "chunk_record_key", "is_scratch_source", "scratch_source_key"]

_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _file_name(name: str) -> str:
    if not _FILE.fullmatch(name) or ".." in name:
        raise InputInvalid(f"{name[:80]!r} is not a scratch file name")
    return name


def scratch_source_key(job_id: str, safe_name: str) -> str:
    return f"{job_prefix(job_id, Area.SCRATCH)}source/{_file_name(safe_name)}"


def is_scratch_source(job_id: str, key: str) -> bool:
    """True when ``key`` is a source key of ``job_id``'s scratch area (and nothing else)."""
    head = f"{job_prefix(job_id, Area.SCRATCH)}source/"
    if not key.startswith(head):
        return False
    try:
        _file_name(key[len(head) :])
    except InputInvalid:
        return False
    return True


def chunk_key(job_id: str, file_name: str) -> str:
    return f"{job_prefix(job_id, Area.SCRATCH)}chunks/{_file_name(file_name)}"


def chunk_record_key(job_id: str, index: int) -> str:
    return chunk_key(job_id, f"chunk_{int(index):04d}.json")
