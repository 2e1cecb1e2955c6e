"""Encode stage: the planned ladder (single pass, a timeline, or chunks), HLS, pictures.

Writes every published file under ``<work>/out`` (names from :mod:`infra.media.outputs`) and
returns them as :class:`RenderOutputs`, so the gate and the upload stage of the document job serve
this job unchanged. Lower rungs are intermediates in ``<work>/renditions`` (never published).
A long single video source is encoded in chunks by their own flow runs (``encode_video``, given
by the flow); everything else in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.jobs.models import RenderOutputs
from infra.jobs.stages import Stage
from infra.media.outputs import AUDIO_M4A, THUMB, VIDEO_MP4, media_outputs
from infra.media.packaging import package_hls
from infra.media.plan import MediaPlan
from infra.media.storyboard import make_pictures
from infra.media.subtitles import SubtitleTrack
from infra.media.timeline import encode_timeline
from infra.media.transcode import encode_audio_only, encode_ladder, rendition_paths
from infra.process.watchdog import JobWatchdog
from infra.settings import Settings
from tasks.media.chunked import encode_in_chunks, wants_chunks
from tasks.media.probe import MediaInputs, MediaSource, source_paths
from tasks.render.document import media_deadlines
from tasks.stage import JobContext

__all__ = ["VideoEncoder", "encode_media", "encode_stage", "output_files"]

# Encodes the video ladder of ``plan`` from one source into the given rendition paths.
VideoEncoder = Callable[[Path, MediaPlan, list[Path]], None]
ENCODE_SHARE = 0.85  # of the encode stage's band; HLS and pictures take the rest


def output_files(out: Path) -> dict[str, str]:
    """Every file under ``out``: key (relative, POSIX) -> path."""
    return {p.relative_to(out).as_posix(): str(p) for p in sorted(out.rglob("*")) if p.is_file()}


def encode_media(
    sources: list[MediaSource],
    plan: MediaPlan,
    root: Path,
    settings: Settings,
    guard: JobWatchdog | None,
    *,
    on_progress: Callable[[float], None] | None = None,
    encode_video: VideoEncoder | None = None,
    subtitles: Sequence[SubtitleTrack] = (),
) -> RenderOutputs:
    """Encode ``sources`` by ``plan`` into ``<root>/out``; the order of calls the blocks expect."""
    cfg, render = settings.media, settings.render
    deadlines = media_deadlines(settings)
    out, work = root / "out", root / "renditions"
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    paths = source_paths(sources)

    def encoding(fraction: float) -> None:
        if on_progress is not None:
            on_progress(fraction * ENCODE_SHARE)

    if plan.kind == "audio":
        m4a, _ = encode_audio_only(
            paths[0],
            plan,
            out / AUDIO_M4A,
            out / THUMB,
            ffmpeg=render.ffmpeg_bin,
            waveform_size=cfg.waveform_size,
            on_progress=encoding,
            deadlines=deadlines,
            guard=guard,
        )
        renditions = [m4a]
    else:
        renditions = rendition_paths(plan, out / VIDEO_MP4, work)
        if len(paths) > 1:
            encode_timeline(
                paths,
                plan,
                renditions,
                ffmpeg=render.ffmpeg_bin,
                threads=render.ffmpeg_threads,
                on_progress=encoding,
                deadlines=deadlines,
                guard=guard,
            )
        elif encode_video is not None:
            encode_video(paths[0], plan, renditions)
        else:
            encode_ladder(
                paths[0],
                plan,
                renditions,
                ffmpeg=render.ffmpeg_bin,
                threads=render.ffmpeg_threads,
                on_progress=encoding,
                deadlines=deadlines,
                guard=guard,
            )
    package_hls(
        plan,
        renditions,
        out,
        ffmpeg=render.ffmpeg_bin,
        ffprobe=render.ffprobe_bin,
        deadlines=deadlines,
        guard=guard,
        subtitles=subtitles,
    )
    if plan.kind == "video":
        small = plan.rungs[-1]
        make_pictures(
            renditions[0],
            renditions[-1],
            out,
            frames=plan.frames,
            fps=plan.fps_value,
            width=small.width,
            height=small.height,
            duration_s=plan.duration_s,
            ffmpeg=render.ffmpeg_bin,
            thumb_at_s=cfg.thumbnail_at_s,
            thumb_width=cfg.thumbnail_width,
            interval_s=cfg.storyboard_interval_s,
            tile_width=cfg.storyboard_tile_width,
            columns=cfg.storyboard_columns,
            rows=cfg.storyboard_rows,
            deadlines=deadlines,
            guard=guard,
        )
    if on_progress is not None:
        on_progress(1.0)
    return RenderOutputs(
        files=output_files(out),
        outputs=media_outputs(plan.kind),
        duration_s=plan.duration_s,
        narration_s=0.0,
        slide_durations_s=[],
        manifest={
            "kind": "media",
            "sources": [
                {"name": s.name, "size": s.size, "sha256": s.sha256, "facts": s.facts.model_dump()}
                for s in sources
            ],
            "plan": plan.model_dump(mode="json"),
        },
    )


@task(name="encode", cache_policy=NO_CACHE)
def encode_stage(ctx: JobContext, inputs: MediaInputs, plan: MediaPlan) -> RenderOutputs:
    """Encode the job; a long single video source in chunks, each by its own flow run."""

    def progress(fraction: float) -> None:
        ctx.progress(Stage.ENCODE, fraction)

    encode_video: VideoEncoder | None = None
    if wants_chunks(plan, ctx.settings):

        def encode_video(_source: Path, plan: MediaPlan, renditions: list[Path]) -> None:
            encode_in_chunks(ctx, inputs.sources[0], plan, renditions, lambda f: progress(f * 0.8))

    return encode_media(
        inputs.sources,
        plan,
        ctx.work_dir,
        ctx.settings,
        ctx.guard,
        on_progress=progress,
        encode_video=encode_video,
        subtitles=inputs.subtitles,
    )
