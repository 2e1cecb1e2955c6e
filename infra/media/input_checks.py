"""Refuse a media input before any encode is spent on it, with the error a user can act on.

After :func:`infra.media.facts.probe_facts` (which already refused unreadable files and
playlists pointing outside the input), :func:`check_media_input` refuses:

- ``input_too_large``: longer than the configured maximum;
- ``input_invalid``: a video shorter than one frame, or an audio-only file with no duration;
- ``input_unreadable``: a file whose start or end does not decode. Two short spans are decoded
  (``-xerror``: the first decoder error stops ffmpeg): ``span_s`` from the start, and ``span_s``
  up to the duration the container claims, which must be reached. A truncated upload keeps its
  header (so ffprobe is happy) but fails the end span; a corrupt stream fails either.
"""

from __future__ import annotations

from pathlib import Path

from infra.errors import InputInvalid, InputTooLarge, InputUnreadable
from infra.media.facts import MediaFacts
from infra.media.safety import INPUT_SAFETY
from infra.process.runner import FFMPEG_BASE_ARGS, Deadlines, ProcessGuard, Progress, run_process

__all__ = ["check_media_input", "decode_span_argv"]

MIN_AUDIO_S = 0.01


def decode_span_argv(
    ffmpeg: str, path: Path, facts: MediaFacts, *, start_s: float, span_s: float
) -> list[str]:
    """Decode ``span_s`` seconds from ``start_s`` of the planned streams, to nothing."""
    maps: list[str] = []
    for stream in (facts.video, facts.audio):
        if stream is not None:
            maps += ["-map", f"0:{stream.index}"]
    seek = ["-ss", f"{start_s:.3f}"] if start_s > 0 else []
    return [
        ffmpeg,
        *FFMPEG_BASE_ARGS,
        "-loglevel",
        "error",
        "-xerror",
        *seek,
        "-t",
        f"{span_s:.3f}",
        *INPUT_SAFETY,
        "-i",
        str(path),
        *maps,
        "-f",
        "null",
        "-",
    ]


def _decode_span(
    ffmpeg: str,
    path: Path,
    facts: MediaFacts,
    *,
    where: str,
    start_s: float,
    span_s: float,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> Progress | None:
    try:
        result = run_process(
            decode_span_argv(ffmpeg, path, facts, start_s=start_s, span_s=span_s),
            deadlines=deadlines,
            guard=guard,
            ffmpeg_progress=True,
            error=InputUnreadable,
        )
    except InputUnreadable as exc:
        last = (exc.detail or "").strip().splitlines()[-1:] or ["no error output"]
        raise InputUnreadable(
            f"{path.name} is truncated or corrupt: its {where} does not decode ({last[0][:160]});"
            " re-export or re-upload the file",
            detail=exc.detail,
        ) from exc
    return result.last_progress


def check_media_input(
    path: Path,
    facts: MediaFacts,
    *,
    ffmpeg: str,
    max_duration_s: float,
    span_s: float,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> None:
    """Raise InputTooLarge, InputInvalid or InputUnreadable if ``path`` must not be encoded."""
    duration = facts.duration_s
    if duration > max_duration_s:
        raise InputTooLarge(
            f"{path.name} lasts {duration:.0f} s; the limit is {max_duration_s:.0f} s "
            "(REELFLOW_MEDIA__MAX_DURATION_S): trim it or split it into several jobs"
        )
    if facts.video is not None:
        frame_s = 1 / float(facts.video.fps_value)
        video_s = facts.video.duration_s if facts.video.duration_s is not None else duration
        if video_s < frame_s * 0.999 or facts.video.frame_count == 0:
            raise InputInvalid(
                f"{path.name} has {video_s:.3f} s of video, less than one frame "
                f"({frame_s:.3f} s): nothing to encode"
            )
    elif duration < MIN_AUDIO_S:
        raise InputInvalid(f"{path.name} has no audio to encode ({duration:.3f} s)")
    span = min(span_s, duration)
    head = _decode_span(
        ffmpeg,
        path,
        facts,
        where="start",
        start_s=0.0,
        span_s=span,
        deadlines=deadlines,
        guard=guard,
    )
    decoded = (head.frame if facts.video else head.out_time_s) if head else None
    if not decoded:
        raise InputUnreadable(f"{path.name}: its start decodes to nothing; the file is damaged")
    tail_start = max(0.0, duration - span)
    tail = _decode_span(
        ffmpeg,
        path,
        facts,
        where="end",
        start_s=tail_start,
        span_s=span + 1.0,
        deadlines=deadlines,
        guard=guard,
    )
    reached = (tail.out_time_s or 0.0) if tail else 0.0
    tolerance = max(0.3, 3 / float(facts.video.fps_value)) if facts.video else 0.3
    if tail_start + reached < duration - tolerance:
        raise InputUnreadable(
            f"{path.name} is truncated: it claims {duration:.2f} s but decodes only to "
            f"{tail_start + reached:.2f} s; re-upload the complete file"
        )
