"""HLS: cutting renditions into segments, RFC 6381 codec strings, measured bandwidth, the master
playlist. Shared by every job kind (document slide videos and media transcodes)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from infra.media.safety import INPUT_SAFETY
from infra.process.runner import FFMPEG_BASE_ARGS

__all__ = ["avc_codec_string", "hls_argv", "master_playlist", "variant_bandwidth"]


def hls_argv(
    ffmpeg: str, mp4s: Sequence[Path], playlists: Sequence[Path], segment_s: int
) -> list[str]:
    """Cut each rendition MP4 into MPEG-TS segments by stream copy, in one process."""
    argv = [ffmpeg, *FFMPEG_BASE_ARGS, "-loglevel", "error", "-y"]
    for mp4 in mp4s:
        argv += [*INPUT_SAFETY, "-i", str(mp4)]
    for i, playlist in enumerate(playlists):
        argv += [
            "-map",
            f"{i}:v",
            "-map",
            f"{i}:a",
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            str(segment_s),
            "-hls_playlist_type",
            "vod",
            "-hls_flags",
            "independent_segments",
            "-hls_segment_filename",
            str(playlist.parent / "seg_%04d.ts"),
            str(playlist),
        ]
    return argv


_PROFILES = {"High": 0x64, "Main": 0x4D, "Baseline": 0x42, "Constrained Baseline": 0x42}


def avc_codec_string(profile: str, level: int) -> str:
    """RFC 6381 codec string for H.264, e.g. ``avc1.640028`` for High@4.0."""
    constraints = 0xE0 if profile == "Constrained Baseline" else 0x00
    return f"avc1.{_PROFILES.get(profile, 0x64):02x}{constraints:02x}{level:02x}"


def variant_bandwidth(playlist: Path) -> tuple[int, int]:
    """(peak, average) bits per second of a VOD media playlist, from its segment files."""
    text = playlist.read_text()
    durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+)", text)]
    names = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    sizes = [(playlist.parent / n).stat().st_size for n in names]
    if not durations or len(durations) != len(sizes):
        raise ValueError(f"{playlist} lists no segments")
    rates = [s * 8 / max(d, 0.001) for s, d in zip(sizes, durations, strict=True)]
    average = sum(sizes) * 8 / max(sum(durations), 0.001)
    return math.ceil(max(rates)), math.ceil(average)


def master_playlist(variants: Sequence[dict[str, object]]) -> str:
    """``variants``: dicts with uri, bandwidth, average, width, height, codecs, fps."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v['bandwidth']},AVERAGE-BANDWIDTH={v['average']},"
            f"RESOLUTION={v['width']}x{v['height']},FRAME-RATE={float(v['fps']):.3f},"  # type: ignore[arg-type]
            f'CODECS="{v["codecs"]}"'
        )
        lines.append(str(v["uri"]))
    return "\n".join(lines) + "\n"
