"""Media encodes: the single-pass ladder, the audio track, audio-only jobs (argv + run helpers).

The ladder pass decodes the source once, runs the shared filters once (deinterlace, CFR,
tone-map), splits the picture into every rung and writes one MP4 per rung; the audio is
normalised and encoded once, into the top MP4 (faststart, the published ``video.mp4``), and HLS
copies it from there into every variant. Lower rungs are video-only intermediates for HLS.
Audio-only jobs get an M4A and a waveform poster from one pass. Every argv keeps user file names
as single list items (spaces, quotes, non-ASCII are harmless) and puts INPUT_SAFETY before -i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from infra.errors import FFmpegFailed
from infra.media.filters import (
    aac_args,
    audio_chain,
    loudness_chain,
    rung_scalers,
    video_chain,
    x264_args,
)
from infra.media.plan import MediaPlan
from infra.media.safety import INPUT_SAFETY
from infra.process.runner import (
    FFMPEG_BASE_ARGS,
    Deadlines,
    ProcessGuard,
    Progress,
    atomic_outputs,
    run_process,
)

__all__ = [
    "audio_only_argv",
    "audio_track_argv",
    "encode_audio_only",
    "encode_ladder",
    "ladder_argv",
    "progress_fraction",
    "rendition_paths",
]

# No source metadata (phone GPS tags, device names) leaks into published files.
_NO_METADATA = ["-map_metadata", "-1", "-map_chapters", "-1"]


def _head(ffmpeg: str) -> list[str]:
    return [ffmpeg, *FFMPEG_BASE_ARGS, "-loglevel", "error", "-y"]


def rendition_paths(plan: MediaPlan, top: Path, work: Path) -> list[Path]:
    """Where each rung's MP4 goes: the top is the published MP4, the rest are intermediates."""
    return [top] + [work / f"{rung.name}.mp4" for rung in plan.rungs[1:]]


def ladder_argv(
    ffmpeg: str, source: Path, plan: MediaPlan, outputs: Sequence[Path], *, threads: int = 0
) -> list[str]:
    """One pass: every rung of a single-source video plan; audio (if planned) in ``outputs[0]``."""
    src = plan.sources[0]
    assert src.video_index is not None
    graph = [
        f"[0:{src.video_index}]{video_chain(src, plan)}[vin]",
        *rung_scalers("vin", plan.rungs),
    ]
    has_audio = plan.audio is not None and src.audio_index is not None
    if has_audio:
        assert plan.audio is not None
        graph.append(
            f"[0:{src.audio_index}]{audio_chain(src, plan)},{loudness_chain(plan.audio)}[aout]"
        )
    argv = [*_head(ffmpeg), *INPUT_SAFETY, "-i", str(source), "-filter_complex", ";".join(graph)]
    for i, (rung, out) in enumerate(zip(plan.rungs, outputs, strict=True)):
        argv += ["-map", f"[v{i}]", *x264_args(plan, rung, threads=threads)]
        if i == 0 and has_audio:
            assert plan.audio is not None
            argv += ["-map", "[aout]", *aac_args(plan.audio)]
        argv += [*_NO_METADATA, "-movflags", "+faststart", "-f", "mp4", str(out)]
    return argv


def audio_track_argv(ffmpeg: str, source: Path, plan: MediaPlan, out: Path) -> list[str]:
    """The plan's audio alone, normalised and encoded once (chunked encodes mux it at the join)."""
    src = plan.sources[0]
    assert plan.audio is not None and src.audio_index is not None
    chain = f"{audio_chain(src, plan)},{loudness_chain(plan.audio)}"
    return [
        *_head(ffmpeg),
        *INPUT_SAFETY,
        "-i",
        str(source),
        "-filter_complex",
        f"[0:{src.audio_index}]{chain}[aout]",
        "-map",
        "[aout]",
        *aac_args(plan.audio),
        *_NO_METADATA,
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out),
    ]


def audio_only_argv(
    ffmpeg: str, source: Path, plan: MediaPlan, m4a: Path, poster: Path, *, waveform_size: str
) -> list[str]:
    """Audio-only job: the M4A (faststart) and a waveform poster of the normalised audio."""
    src = plan.sources[0]
    assert plan.audio is not None and src.audio_index is not None
    chain = f"{audio_chain(src, plan)},{loudness_chain(plan.audio)}"
    graph = (
        f"[0:{src.audio_index}]{chain},asplit=2[aout][awave];"
        f"[awave]showwavespic=s={waveform_size}:split_channels=0:colors=0x3a7bd5,"
        "format=yuvj420p[wave]"
    )
    return [
        *_head(ffmpeg),
        *INPUT_SAFETY,
        "-i",
        str(source),
        "-filter_complex",
        graph,
        "-map",
        "[aout]",
        *aac_args(plan.audio),
        *_NO_METADATA,
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(m4a),
        "-map",
        "[wave]",
        "-frames:v",
        "1",
        "-update",
        "1",
        "-q:v",
        "3",
        "-f",
        "image2",
        str(poster),
    ]


def progress_fraction(
    total_s: float, on_progress: Callable[[float], None] | None
) -> Callable[[Progress], None] | None:
    """Adapt ffmpeg progress to a 0..1 fraction of ``total_s``."""
    if on_progress is None:
        return None

    def report(progress: Progress) -> None:
        if progress.out_time_s is not None:
            on_progress(min(1.0, progress.out_time_s / max(total_s, 0.1)))

    return report


def _check_written(paths: Sequence[Path]) -> None:
    for path in paths:
        if not path.is_file() or path.stat().st_size == 0:
            raise FFmpegFailed(f"ffmpeg finished but wrote no {path.name}")


def encode_ladder(
    source: Path,
    plan: MediaPlan,
    outputs: Sequence[Path],
    *,
    ffmpeg: str,
    threads: int,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
    on_progress: Callable[[float], None] | None = None,
) -> list[Path]:
    """Run :func:`ladder_argv`; each output appears complete or not at all."""
    with atomic_outputs(*outputs) as temps:
        run_process(
            ladder_argv(ffmpeg, source, plan, temps, threads=threads),
            deadlines=deadlines,
            guard=guard,
            ffmpeg_progress=True,
            on_progress=progress_fraction(plan.duration_s, on_progress),
        )
        _check_written(temps)
    return list(outputs)


def encode_audio_only(
    source: Path,
    plan: MediaPlan,
    m4a: Path,
    poster: Path,
    *,
    ffmpeg: str,
    waveform_size: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[Path, Path]:
    with atomic_outputs(m4a, poster) as (temp_m4a, temp_poster):
        run_process(
            audio_only_argv(
                ffmpeg, source, plan, temp_m4a, temp_poster, waveform_size=waveform_size
            ),
            deadlines=deadlines,
            guard=guard,
            ffmpeg_progress=True,
            on_progress=progress_fraction(plan.duration_s, on_progress),
        )
        _check_written([temp_m4a, temp_poster])
    return m4a, poster
