"""The storage layout: job ids, the three key areas of a bucket, output names, the manifest.

Stated once, imported everywhere (stages, cleanup, the sweeper, retention, the API, the tests):

    <bucket>/inbox/<job_id>/...        a source uploaded for the job (API uploads in a folder of
                                       their own request: inbox/<job_id>/<16 hex>/<name>)
    <bucket>/scratch/<job_id>/...      chunk outputs while a media job runs (never committed)
    <bucket>/jobs/<job_id>/...         the outputs, and ``manifest.json`` written last (the commit)

A job id is never a path: it must match :data:`JOB_ID_PATTERN` (no ``.``, no ``/``, never ``..``),
and every prefix a delete may touch is rebuilt from a checked id (:func:`parse_job_prefix` refuses
anything else), so no request can make a delete reach above its own job.
"""

from __future__ import annotations

import enum
import re

from infra.errors import InputInvalid, StorageRejected

__all__ = [
    "DOCUMENT_OUTPUTS",
    "JOB_ID_PATTERN",
    "MANIFEST",
    "Area",
    "area_prefix",
    "job_prefix",
    "parse_job_prefix",
    "validate_job_id",
]

# Letters and digits first, then letters, digits, "_" and "-": never "." or "..", never a path.
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)

MANIFEST = "manifest.json"

# What a document job publishes: output name -> key under its jobs/<id>/ prefix.
DOCUMENT_OUTPUTS: dict[str, str] = {
    "video": "video.mp4",
    "hls": "hls/master.m3u8",
    "thumbnail": "thumb.jpg",
    "captions": "captions.vtt",
    "script": "script.json",
}


class Area(enum.StrEnum):
    """The top-level key areas of the bucket, one folder per job in each."""

    JOBS = "jobs"
    INBOX = "inbox"
    SCRATCH = "scratch"


def validate_job_id(job_id: str) -> str:
    """``job_id`` itself, or InputInvalid when it could be anything but one path element."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InputInvalid(
            f"job id {str(job_id)[:80]!r} is not valid: 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return job_id


def job_prefix(job_id: str, area: Area = Area.JOBS) -> str:
    """``<area>/<job_id>/`` for a checked job id."""
    return f"{area.value}/{validate_job_id(job_id)}/"


def area_prefix(area: Area) -> str:
    return f"{area.value}/"


def parse_job_prefix(prefix: str) -> tuple[Area, str]:
    """(area, job id) of a prefix that is exactly ``<area>/<job_id>/``; else StorageRejected.

    Every store delete goes through this: a prefix of ``jobs/../``, ``jobs/``, ``""`` or
    ``jobs/a/b/`` is refused before anything is listed or removed.
    """
    parts = prefix.split("/")
    if len(parts) != 3 or parts[2] != "":
        raise StorageRejected(f"refusing to delete {prefix!r}: not one job's prefix")
    try:
        area = Area(parts[0])
        validate_job_id(parts[1])
    except (ValueError, InputInvalid) as exc:
        raise StorageRejected(f"refusing to delete {prefix!r}: not one job's prefix") from exc
    return area, parts[1]
