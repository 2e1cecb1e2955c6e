"""ffmpeg argument lists for slide videos (pure functions).

One encode pass reads the slide images once (concat demuxer, exact per-slide durations) and the
narration once, splits the picture into every rendition of the preset plus the thumbnail, and
writes one MP4 per rendition. Slides are still pictures: a low frame rate, x264's ``stillimage``
tuning and keyframes only at segment boundaries make a slide video cost a fraction of a
live-action encode. A second process cuts each MP4 into HLS segments by stream copy (no
re-encode); ``infra.media.hls`` writes the master playlist from the measured segment bitrates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infra.media.presets import Preset
from infra.media.safety import INPUT_SAFETY
from infra.process.runner import FFMPEG_BASE_ARGS

__all__ = ["audio_argv", "concat_list", "encode_argv", "speech_wav_argv"]


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


def speech_wav_argv(ffmpeg: str, audio: Path, out: Path, rate_hz: int) -> list[str]:
    """Any speech file (a remote provider's WAV or MP3) -> the mono 16-bit WAV slides are joined
    from, at ``rate_hz``."""
    return [
        ffmpeg,
        *FFMPEG_BASE_ARGS,
        "-loglevel",
        "error",
        "-y",
        *INPUT_SAFETY,
        "-i",
        str(audio),
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        str(rate_hz),
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
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
