"""Sidecar subtitles (SRT or WebVTT given with a job) → WebVTT files and HLS subtitle tracks.

The sidecar's demuxer is chosen from its content (``WEBVTT`` header or SRT), never probed, so a
playlist posing as subtitles is never opened as one. ffmpeg re-writes it as WebVTT (which also
validates it: a broken sidecar is the job's ``input_invalid``). For HLS, the WebVTT copy carries
an ``X-TIMESTAMP-MAP`` header: cue time 0 is the MPEG-TS timestamp of the video's first segment,
as RFC 8216 3.5 requires (ffmpeg's TS muxer does not start at 0).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from infra.errors import InputInvalid
from infra.media.safety import INPUT_SAFETY
from infra.process.runner import FFMPEG_BASE_ARGS, Deadlines, ProcessGuard, run_process

__all__ = [
    "SubtitleTrack",
    "convert_subtitle",
    "subtitle_argv",
    "track_key",
    "track_language",
    "with_timestamp_map",
]

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


class SubtitleTrack(BaseModel):
    """A sidecar given with the job; ``path`` may carry any name (spaces, quotes, non-ASCII)."""

    path: Path
    language: str = "und"
    name: str | None = None  # shown in players' menus; the language when empty


def track_language(track: SubtitleTrack) -> str:
    """The track's language if it looks like a BCP 47 tag, else ``und``."""
    return track.language if _LANGUAGE.match(track.language) else "und"


def track_key(track: SubtitleTrack, index: int) -> str:
    """A store-safe name for the track's files: ``0_en``, ``1_pt-BR``, ``2_und``."""
    return f"{index}_{track_language(track)}"


def _sidecar_format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "webvtt" if head.startswith(b"WEBVTT") else "srt"


def subtitle_argv(ffmpeg: str, sidecar: Path, out_vtt: Path) -> list[str]:
    return [
        ffmpeg,
        *FFMPEG_BASE_ARGS,
        "-loglevel",
        "error",
        "-y",
        *INPUT_SAFETY,
        "-f",
        _sidecar_format(sidecar),
        "-i",
        str(sidecar),
        "-map",
        "0:s:0",
        "-c:s",
        "webvtt",
        "-f",
        "webvtt",
        str(out_vtt),
    ]


def with_timestamp_map(vtt: str, mpegts_ticks: int) -> str:
    """``vtt`` with an ``X-TIMESTAMP-MAP`` header: cue time 0 is ``mpegts_ticks`` (90 kHz)."""
    lines = vtt.lstrip("\ufeff").split("\n")
    if not lines or not lines[0].startswith("WEBVTT"):
        raise InputInvalid("subtitles converted to WebVTT lack the WEBVTT header")
    header = f"X-TIMESTAMP-MAP=MPEGTS:{mpegts_ticks},LOCAL:00:00:00.000"
    return "\n".join([lines[0], header, *lines[1:]])


def convert_subtitle(
    track: SubtitleTrack,
    out_vtt: Path,
    *,
    ffmpeg: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> Path:
    """Write the sidecar as WebVTT to ``out_vtt``; an unreadable sidecar is InputInvalid."""
    if not track.path.is_file():
        raise InputInvalid(f"subtitle file {track.path.name} does not exist")
    try:
        run_process(
            subtitle_argv(ffmpeg, track.path, out_vtt),
            deadlines=deadlines,
            guard=guard,
            ffmpeg_progress=True,
            error=InputInvalid,
        )
    except InputInvalid as exc:
        raise InputInvalid(
            f"subtitle file {track.path.name} is not valid SRT or WebVTT (UTF-8); fix or drop it",
            detail=exc.detail,
        ) from exc
    if not out_vtt.is_file() or "-->" not in out_vtt.read_text(encoding="utf-8", errors="replace"):
        raise InputInvalid(f"subtitle file {track.path.name} has no cues")
    return out_vtt
