"""Media probe stage: each source (one, or the parts of a timeline) copied, sniffed, probed, proved.

Every source goes through the document job's fetch (input roots, inbox keys, SSRF rules, size
bound) into its own numbered folder, so two parts with the same name never meet. Then ffprobe's
facts (with the runner's deadlines) and the input checks: no decodable stream or a cut file ->
``input_unreadable``, longer than the limit -> ``input_too_large``, less than one frame ->
``input_invalid``; a document given to the media job -> ``input_invalid``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from infra.errors import InputInvalid, InputTooLarge
from infra.jobs.detect import Content, detect_kind, sniff_file
from infra.jobs.limits import check_free_space
from infra.jobs.models import JobKind, JobRequest, SubtitleSource
from infra.jobs.stages import Stage
from infra.media.facts import MediaFacts, probe_facts
from infra.media.input_checks import check_media_input
from infra.media.subtitles import SubtitleTrack
from tasks.probe import fetch_source
from tasks.render.document import media_deadlines
from tasks.stage import JobContext

__all__ = [
    "MediaInputs",
    "MediaSource",
    "fetch_subtitle",
    "media_probe_stage",
    "probe_source",
    "source_paths",
]


SUBTITLE_MAX_BYTES = 5_000_000  # a sidecar larger than this is not a subtitle file


class MediaSource(BaseModel):
    """One source of a media job: its private copy and what ffprobe says about it."""

    path: str
    name: str  # as the client gave it (kept in the manifest; never a path)
    size: int
    sha256: str
    facts: MediaFacts


class MediaInputs(BaseModel):
    """What the probe stage hands on: the sources in timeline order and the sidecar subtitles."""

    sources: list[MediaSource]
    subtitles: list[SubtitleTrack] = []


def fetch_subtitle(
    ctx: JobContext, request: JobRequest, sub: SubtitleSource, index: int
) -> SubtitleTrack:
    """The private copy of a sidecar (bounded; text only); converted and checked when packaged."""
    part = request.model_copy(update={"source": sub.source, "timeline": [], "subtitles": []})
    max_bytes = min(SUBTITLE_MAX_BYTES, ctx.settings.input.max_bytes)
    got = fetch_source(ctx, part, max_bytes, f"subtitles/{index}")
    if sniff_file(got.path, got.name) not in (Content.TEXT, Content.MARKDOWN):
        raise InputInvalid(f"subtitle file {got.name} is not an SRT or WebVTT text file")
    return SubtitleTrack(path=got.path, language=sub.language, name=sub.name)


def probe_source(ctx: JobContext, request: JobRequest, index: int) -> MediaSource:
    """Fetch and prove the source of ``request`` as part ``index`` of the job."""
    settings = ctx.settings
    got = fetch_source(ctx, request, settings.input.max_media_bytes, f"input/{index}")
    content = sniff_file(got.path, got.name)
    if content != Content.MEDIA:
        kind = detect_kind(
            got.path,
            content,
            ffprobe=settings.render.ffprobe_bin,
            timeout_s=settings.input.probe_timeout_s,
            guard=ctx.guard,
        )
        if kind != JobKind.MEDIA:
            raise InputInvalid(
                f"{got.name} is a document, not a media file: submit it as a document job "
                "(reelflow run and the job API route it by content)"
            )
    deadlines = media_deadlines(settings)
    facts = probe_facts(
        got.path, ffprobe=settings.render.ffprobe_bin, deadlines=deadlines, guard=ctx.guard
    )
    check_media_input(
        got.path,
        facts,
        ffmpeg=settings.render.ffmpeg_bin,
        max_duration_s=settings.media.max_duration_s,
        span_s=settings.media.probe_span_s,
        deadlines=deadlines,
        guard=ctx.guard,
    )
    return MediaSource(
        path=str(got.path), name=got.name, size=got.size, sha256=got.sha256, facts=facts
    )


@task(name="probe", cache_policy=NO_CACHE)
def media_probe_stage(ctx: JobContext, request: JobRequest) -> MediaInputs:
    """Every source of the job, in timeline order, and its subtitles; the first source's digest
    goes to the ledger."""
    settings = ctx.settings
    check_free_space(settings.work_dir_root, request.preset or "hd", settings)
    if request.kind == JobKind.DOCUMENT:
        raise InputInvalid("this is the media job; a document job was asked for")
    sources = []
    for index, source in enumerate([request.source, *request.timeline]):
        part = request.model_copy(update={"source": source, "timeline": [], "subtitles": []})
        sources.append(probe_source(ctx, part, index))
        ctx.progress(Stage.PROBE, (index + 1) / (1 + len(request.timeline)))
    total = sum(s.facts.duration_s for s in sources)
    if total > settings.media.max_duration_s:
        raise InputTooLarge(
            f"the timeline lasts {total:.0f} s; the limit is {settings.media.max_duration_s:.0f} s "
            "(REELFLOW_MEDIA__MAX_DURATION_S)"
        )
    subtitles = [fetch_subtitle(ctx, request, sub, i) for i, sub in enumerate(request.subtitles)]
    ctx.ledger.mark_running(ctx.job_id, "probe", input_sha256=sources[0].sha256)
    return MediaInputs(sources=sources, subtitles=subtitles)


def source_paths(sources: list[MediaSource]) -> list[Path]:
    return [Path(s.path) for s in sources]
