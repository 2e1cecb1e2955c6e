"""Refuse a bad request before anything starts: a second, not a flow run, and no ledger row.

``preflight`` checks what can be checked where the request arrives (the CLI, the job service, the
gateway): the fields against the operator's settings, the source's location (input roots, the
bucket's inbox, the SSRF rules for URLs) and, when the bytes are reachable, its size and content
type, which decide the job's kind (document or media). The probe stage checks everything again
on its own private copy: preflight is for speed and clear errors, not the security boundary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from infra.errors import InputInvalid, InputTooLarge
from infra.jobs.detect import HEAD_BYTES, Content, detect_kind, sniff
from infra.jobs.models import JobKind, JobRequest
from infra.jobs.sources import (
    open_local_source,
    parse_s3_source,
    resolve_local_source,
    source_name,
)
from infra.jobs.validation import validate_request
from infra.net.ssrf import check_url
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore

__all__ = ["Preflight", "kind_limit", "preflight"]

_MEDIA_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".m4a", ".mp3", ".wav", ".aac", ".flac"}


@dataclass(frozen=True)
class Preflight:
    request: JobRequest  # validated, defaults filled
    kind: JobKind  # DOCUMENT or MEDIA
    name: str  # the source's file name as given
    size: int | None  # None when unknown before the fetch (https)


def kind_limit(kind: JobKind, settings: Settings) -> int:
    return settings.input.max_media_bytes if kind == JobKind.MEDIA else settings.input.max_bytes


def _resolve_kind(
    request: JobRequest, content: Content, path: Path | None, settings: Settings
) -> JobKind:
    if content in (Content.PDF, Content.MARKDOWN, Content.TEXT):
        found = JobKind.DOCUMENT
    elif content == Content.MEDIA_LIST:
        raise InputInvalid("a playlist or concat list is not accepted; submit the media file")
    elif content == Content.MEDIA or path is None:
        found = JobKind.MEDIA
    else:
        found = detect_kind(
            path,
            content,
            ffprobe=settings.render.ffprobe_bin,
            timeout_s=settings.input.probe_timeout_s,
        )
    if request.kind != JobKind.AUTO and request.kind != found:
        raise InputInvalid(f"the source is a {found.value} file, not {request.kind.value}")
    return found


def _check_size(size: int, kind: JobKind, name: str, settings: Settings) -> None:
    limit = kind_limit(kind, settings)
    if size > limit:
        raise InputTooLarge(
            f"{name} is {size / 1e6:.1f} MB; the limit for {kind.value} jobs is "
            f"{limit / 1e6:.1f} MB"
        )
    if size == 0:
        raise InputInvalid(f"{name} is empty; upload a document or a media file")


def preflight(
    request: JobRequest, settings: Settings, store: ArtifactStore | None = None
) -> Preflight:
    """Check ``request``; raises the documented input/request errors, in well under a second.

    The parts of a timeline are checked for their location only (the probe stage reads each)."""
    checked = _preflight_source(validate_request(request, settings), settings, store)
    if request.timeline or request.subtitles:
        if checked.kind != JobKind.MEDIA:
            raise InputInvalid(
                "timelines and subtitles are for media jobs; the source is a document"
            )
        for part in [*request.timeline, *(s.source for s in request.subtitles)]:
            _check_location(part, settings)
    return checked


def _check_location(source: str, settings: Settings) -> None:
    if source.startswith("s3://"):
        parse_s3_source(source, settings.storage.bucket, settings.input.s3_prefixes)
    elif source.startswith(("https://", "http://")):
        check_url(source, settings.net.allow_hosts, what="source URL")
    else:
        resolve_local_source(source, settings.input.roots)


def _preflight_source(
    request: JobRequest, settings: Settings, store: ArtifactStore | None
) -> Preflight:
    name = source_name(request.source)
    source = request.source
    if source.startswith("s3://"):
        s3 = parse_s3_source(source, settings.storage.bucket, settings.input.s3_prefixes)
        if store is None:
            return Preflight(request, _kind_from_name(request, name), name, None)
        size = store.size_of(s3.key)
        if size is None:
            raise InputInvalid(f"the source object {s3.key!r} does not exist")
        chunks = store.iter_chunks(s3.key)
        try:
            head = next(iter(chunks), b"")[:HEAD_BYTES]
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        kind = _resolve_kind(request, sniff(head, name), None, settings)
        _check_size(size, kind, name, settings)
        return Preflight(request, kind, name, size)
    if source.startswith(("https://", "http://")):
        check_url(source, settings.net.allow_hosts, what="source URL")
        return Preflight(request, _kind_from_name(request, name), name, None)
    local = resolve_local_source(source, settings.input.roots)
    with open_local_source(local) as fd:
        size = os.fstat(fd).st_size
        head = os.pread(fd, HEAD_BYTES, 0)
    kind = _resolve_kind(request, sniff(head, name), local.path, settings)
    _check_size(size, kind, name, settings)
    return Preflight(request, kind, name, size)


def _kind_from_name(request: JobRequest, name: str) -> JobKind:
    """Before the bytes are fetched: the request's kind, else a guess from the name (the flow
    checks the content and refuses a mismatch with ``input_invalid``)."""
    if request.kind != JobKind.AUTO:
        return request.kind
    return JobKind.MEDIA if Path(name).suffix.lower() in _MEDIA_SUFFIXES else JobKind.DOCUMENT
