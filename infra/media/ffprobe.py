"""ffprobe as JSON through the process runner, with a timeout; tool versions for manifests."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import InputUnreadable, OutputInvalid, ReelflowError
from infra.media.safety import INPUT_SAFETY, check_references
from infra.process.runner import Deadlines, ProcessGuard, run_process

__all__ = [
    "MediaInfo",
    "probe_argv",
    "probe_json",
    "probe_media",
    "probe_media_file",
    "tool_version",
]


@dataclass(frozen=True)
class MediaInfo:
    """What a job needs to know about a media file; ``raw`` keeps ffprobe's whole answer."""

    format_name: str
    duration_s: float
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    raw: dict[str, Any]


def probe_argv(ffprobe: str, path: Path) -> list[str]:
    return [
        ffprobe,
        "-v",
        "error",
        "-hide_banner",
        *INPUT_SAFETY,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]


def probe_json(
    path: Path,
    *extra: str,
    ffprobe: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
    error: type[ReelflowError] = OutputInvalid,
) -> dict[str, Any]:
    """ffprobe's JSON (format and streams, plus ``extra`` flags such as ``-count_packets``) for a
    file the job wrote; a failure or no JSON raises ``error`` (by default the publish gate's)."""
    argv = probe_argv(ffprobe, path)
    argv[-1:-1] = list(extra)
    result = run_process(argv, deadlines=deadlines, guard=guard, error=error)
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise error(f"ffprobe gave no JSON for {path.name}") from exc
    return data if isinstance(data, dict) else {}


def probe_media(
    path: Path,
    *,
    ffprobe: str = "ffprobe",
    timeout_s: float = 30.0,
    guard: ProcessGuard | None = None,
) -> MediaInfo:
    """Probe ``path``; raises InputUnreadable when ffprobe cannot make sense of it."""
    try:
        result = run_process(
            probe_argv(ffprobe, path),
            deadlines=Deadlines(timeout_s),
            error=InputUnreadable,
            guard=guard,
        )
    except InputUnreadable as exc:
        raise InputUnreadable(
            f"{path.name} is not a media file ffprobe can read", detail=exc.detail
        ) from exc
    except ReelflowError as exc:
        if exc.code == "ffmpeg_timeout":
            raise InputUnreadable(
                f"probing {path.name} took longer than {timeout_s:.0f} s", detail=exc.detail
            ) from exc
        raise
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise InputUnreadable(f"ffprobe gave no JSON for {path.name}") from exc
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    if not streams:
        raise InputUnreadable(f"{path.name} has no audio or video streams")
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return MediaInfo(
        format_name=str(fmt.get("format_name", "")),
        duration_s=float(fmt.get("duration") or 0.0),
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        width=int(video["width"]) if video and "width" in video else None,
        height=int(video["height"]) if video and "height" in video else None,
        raw=data,
    )


def probe_media_file(
    path: Path,
    *,
    ffprobe: str = "ffprobe",
    timeout_s: float = 30.0,
    guard: ProcessGuard | None = None,
) -> MediaInfo:
    """:func:`probe_media` after refusing playlists/concat lists that point outside their folder."""
    check_references(path)
    return probe_media(path, ffprobe=ffprobe, timeout_s=timeout_s, guard=guard)


@functools.cache
def tool_version(binary: str) -> str:
    """First line of ``binary --version`` (cached per process), for manifests."""
    flag = "-version" if Path(binary).name.startswith("ff") else "--version"
    try:
        out = run_process([binary, flag], deadlines=Deadlines(10.0)).stdout.decode(
            "utf-8", "replace"
        )
    except ReelflowError:
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"
