"""ffmpeg argument lists for slide videos (pure functions) and the HLS master playlist.

One encode pass reads the slide images once (concat demuxer, exact per-slide durations) and the
narration once, splits the picture into every rendition of the preset plus the thumbnail, and
writes one MP4 per rendition. Slides are still pictures: a low frame rate, x264's ``stillimage``
tuning and keyframes only at segment boundaries make a slide video cost a fraction of a
live-action encode. A second process cuts each MP4 into HLS segments by stream copy (no
re-encode); the master playlist is written from the measured segment bitrates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from infra.presets import Preset
from infra.runner import FFMPEG_BASE_ARGS

__all__ = [
    "audio_argv",
    "avc_codec_string",
    "concat_list",
    "encode_argv",
    "hls_argv",
    "master_playlist",
    "variant_bandwidth",
]

# Inputs are files the job owns; nothing may pull in other protocols (http, concat:, ...).
INPUT_SAFETY = ("-protocol_whitelist", "file,pipe")


def concat_list(images: Sequence[Path], durations: Sequence[float]) -> str:
    """An ffconcat script showing each image for its duration (names relative to the list)."""
    lines = ["ffconcat version 1.0"]
    for image, duration in zip(images, durations, strict=True):
        lines += [f"file '{image.name}'", f"duration {duration:.3f}"]
    lines.append(f"file '{images[-1].name}'")  # the demuxer needs the last file twice
    return "\n".join(lines) + "\n"


def audio_argv(ffmpeg: str, wav: Path, out: Path, kbps: int) -> list[str]:
    """Narration WAV -> AAC-LC once, at the source rate (speech; every rendition copies it)."""
    return [
        ffmpeg,
        *FFMPEG_BASE_ARGS,
        "-loglevel",
        "error",
        "-y",
        *INPUT_SAFETY,
        "-i",
        str(wav),
        "-map",
        "0:a",
        "-c:a",
        "aac",
        "-aac_coder",
        "fast",
        "-b:a",
        f"{kbps}k",
        "-f",
        "mp4",
        str(out),
    ]


def encode_argv(
    ffmpeg: str,
    concat_file: Path,
    audio: Path,
    preset: Preset,
    renditions_out: Sequence[Path],
    thumb_out: Path,
    *,
    total_s: float,
    fps: int,
    segment_s: int,
    threads: int = 0,
) -> list[str]:
    count = len(preset.renditions)
    labels = "".join(f"[s{i}]" for i in range(count))
    # Convert and scale the few distinct slide pictures first; ``fps`` then repeats frames.
    graph = [f"[0:v]format=yuv420p,split={count + 1}{labels}[sthumb]"]
    graph += [
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,fps={fps}[v{i}]"
        for i, r in enumerate(preset.renditions)
    ]
    graph.append(f"[sthumb]trim=end_frame=1,scale={preset.thumb_width}:-2[thumb]")
    argv = [
        ffmpeg,
        *FFMPEG_BASE_ARGS,
        "-loglevel",
        "error",
        "-y",
        *INPUT_SAFETY,
        "-f",
        "concat",
        "-safe",
        "1",
        "-i",
        str(concat_file),
        *INPUT_SAFETY,
        "-i",
        str(audio),
        "-filter_complex",
        ";".join(graph),
    ]
    gop = fps * segment_s
    for i, (rendition, out) in enumerate(zip(preset.renditions, renditions_out, strict=True)):
        argv += [
            "-map",
            f"[v{i}]",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            preset.x264_preset,
            "-tune",
            "stillimage",
            "-profile:v",
            "high",
            "-level:v",
            f"{rendition.h264_level / 10:.1f}",
            "-crf",
            str(preset.crf),
            "-maxrate",
            f"{rendition.maxrate_kbps}k",
            "-bufsize",
            f"{rendition.maxrate_kbps * 2}k",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
            "-force_key_frames",
            f"expr:gte(t,n_forced*{segment_s})",
            "-threads",
            str(threads),
            "-c:a",
            "copy",
            "-t",
            f"{total_s:.3f}",
            "-movflags",
            "+faststart",
            str(out),
        ]
    argv += ["-map", "[thumb]", "-frames:v", "1", "-update", "1", "-q:v", "3", str(thumb_out)]
    return argv


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
