"""Tiny media fixtures made with ffmpeg's lavfi sources, and what a user checks on outputs.

Every clip is small (<= 428x240, a few seconds) so the media tests stay cheap on two shared
cores. The measuring helpers use ffprobe/ffmpeg directly (not reelflow's code) on purpose: they
are the user's view of an output.
"""

from __future__ import annotations

import array
import json
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "av_clip",
    "beep_onsets",
    "encode_media_job",
    "flash_beep",
    "flash_times",
    "frame_pts",
    "hdr10",
    "interlaced",
    "portrait_phone",
    "probe",
    "stream",
    "surround_audio",
    "ten_bit_odd",
    "truncate",
    "vfr_clip",
]


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=120,
    )


def av_clip(
    path: Path,
    *,
    size: str = "320x180",
    rate: str = "25",
    seconds: float = 2.0,
    audio: bool = True,
    vargs: tuple[str, ...] = (),
) -> Path:
    """testsrc2 picture (moving, so a shifted frame shows) + a 440 Hz tone, H.264/AAC."""
    argv = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac"]
    argv += ["-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", *vargs, str(path)]
    _ffmpeg(*argv)
    return path


def ten_bit_odd(path: Path, seconds: float = 1.0) -> Path:
    """321x181, 10-bit 4:4:4 H.264 (odd sizes need 4:4:4), no audio."""
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=322x182:rate=25,scale=321:181",
        "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv444p10le", str(path),
    )  # fmt: skip
    return path


def portrait_phone(path: Path, seconds: float = 1.0) -> Path:
    """A phone's portrait video: 320x180 stored, a 90° display matrix, AAC, a GPS location tag."""
    plain = path.with_name(f"plain_{path.name}")
    av_clip(plain, seconds=seconds)
    _ffmpeg(
        "-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90",
        "-metadata", "location=+48.8584+002.2945/", str(path),
    )  # fmt: skip
    plain.unlink()
    return path


def vfr_clip(path: Path) -> Path:
    """30 fps for a second, then 15 fps: nominal 30, average ~24 (variable frame rate)."""
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "2",
        "-vf", "setpts='if(lt(N,30),N/30,1+(N-30)/15)/TB'", "-fps_mode", "vfr",
        "-c:v", "libx264", str(path),
    )  # fmt: skip
    return path


def surround_audio(path: Path, seconds: float = 2.0) -> Path:
    """5.1 AAC, audio only."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
        "-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def interlaced(path: Path, seconds: float = 1.0) -> Path:
    """25i: 50 fields/s woven into 25 top-field-first frames, coded interlaced."""
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=50",
        "-vf", "tinterlace=mode=interleave_top,fieldorder=tff", "-t", str(seconds),
        "-c:v", "libx264", "-flags", "+ilme+ildct", "-top", "1", str(path),
    )  # fmt: skip
    return path


def hdr10(path: Path, seconds: float = 1.0) -> Path:
    """10-bit BT.2020 PQ (HDR10-tagged) H.264."""
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", str(seconds),
        "-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-color_primaries", "bt2020",
        "-color_trc", "smpte2084", "-colorspace", "bt2020nc", str(path),
    )  # fmt: skip
    return path


def flash_beep(
    path: Path,
    *,
    size: str = "320x180",
    rate: int = 25,
    seconds: float = 2.0,
    flash_frame: int = 25,
    audio: bool = True,
    moving: bool = False,
    gop: int | None = None,
) -> Path:
    """Black (or, ``moving``, testsrc2) video with one white frame (``flash_frame``) and a 1 kHz
    beep starting exactly then."""
    base = f"testsrc2=size={size}:rate={rate}" if moving else f"color=c=black:s={size}:r={rate}"
    flash = (
        f"{base}:d={seconds},"
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='eq(n,{flash_frame})'"
    )
    argv = ["-f", "lavfi", "-i", flash]
    if audio:
        start = flash_frame / rate
        beep = f"if(between(t,{start},{start + 0.15}),0.8*sin(2*PI*1000*t),0)"
        argv += [
            "-f", "lavfi", "-i", f"aevalsrc='{beep}|{beep}':s=48000:d={seconds}", "-c:a", "aac",
        ]  # fmt: skip
    argv += ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if gop is not None:
        argv += ["-g", str(gop)]
    _ffmpeg(*argv, str(path))
    return path


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         "-count_frames", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def stream(data: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((s for s in data["streams"] if s["codec_type"] == kind), None)


def frame_pts(path: Path) -> list[float]:
    """Presentation time of every decoded video frame, in order."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [float(f["pts_time"]) for f in json.loads(out.stdout)["frames"]]


def flash_times(path: Path, fps: float, threshold: float = 48) -> list[float]:
    """Start times of frames brighter than ``threshold`` (mean luma; black is 16, a full white
    frame 235, a pillar-boxed one about 85) in a CFR output: frame n starts at n / fps."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
         "-vf", "scale=8:8,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    means = [sum(raw[i : i + 64]) / 64 for i in range(0, len(raw), 64)]
    return [n / fps for n, mean in enumerate(means) if mean > threshold]


def beep_onsets(path: Path, min_gap_s: float = 0.3) -> list[float]:
    """Where beeps start in the first audio stream: first sample above 20 % of the peak after
    at least ``min_gap_s`` of quiet."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
         "-ar", "48000", "-f", "s16le", "-"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    samples = array.array("h", raw)
    peak = max((abs(s) for s in samples), default=0)
    if peak == 0:
        return []
    threshold = peak * 0.2
    onsets: list[float] = []
    last_loud = -10 * 48000
    for i, sample in enumerate(samples):
        if abs(sample) > threshold:
            if i - last_loud > min_gap_s * 48000:
                onsets.append(i / 48000)
            last_loud = i
    return onsets


DEADLINES_S = 120.0


def encode_media_job(
    sources: list[Path],
    out: Path,
    work: Path,
    *,
    preset: str = "tiny",
    segment_s: int = 1,
    settings: Any = None,
    subtitles: tuple[Any, ...] = (),
    chunk_s: float | None = None,
    threads: int = 0,
) -> tuple[Any, Any]:
    """The media job's order of calls, as a flow will make them: facts → checks → plan →
    encode (single pass, chunks + join, or timeline) → HLS → pictures → gate.
    Returns (plan, gate report)."""
    from infra.media.chunks import encode_chunk, join_chunks, source_keyframes, split_chunks
    from infra.media.facts import probe_facts
    from infra.media.gate import media_expectations, run_gate
    from infra.media.input_checks import check_media_input
    from infra.media.outputs import AUDIO_M4A, THUMB, VIDEO_MP4
    from infra.media.packaging import package_hls
    from infra.media.plan import plan_media
    from infra.media.presets import MEDIA_PRESETS
    from infra.media.storyboard import make_pictures
    from infra.media.timeline import encode_timeline, plan_timeline
    from infra.media.transcode import (
        audio_track_argv,
        encode_audio_only,
        encode_ladder,
        rendition_paths,
    )
    from infra.process.runner import Deadlines, run_process
    from infra.settings.media import MediaSettings

    cfg = settings or MediaSettings()
    d = Deadlines(DEADLINES_S)
    tools = {"deadlines": d, "guard": None}
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    facts = [probe_facts(src, ffprobe="ffprobe", **tools) for src in sources]
    for src, fact in zip(sources, facts, strict=True):
        check_media_input(
            src,
            fact,
            ffmpeg="ffmpeg",
            max_duration_s=cfg.max_duration_s,
            span_s=cfg.probe_span_s,
            **tools,
        )
    ladder = MEDIA_PRESETS[preset]
    if len(sources) > 1:
        plan = plan_timeline(
            [(s.name, f) for s, f in zip(sources, facts, strict=True)],
            ladder,
            segment_s=segment_s,
            settings=cfg,
            crossfade_s=cfg.crossfade_s,
        )
    else:
        plan = plan_media(facts[0], ladder, name=sources[0].name, segment_s=segment_s, settings=cfg)
    if plan.kind == "audio":
        m4a, _ = encode_audio_only(
            sources[0],
            plan,
            out / AUDIO_M4A,
            out / THUMB,
            ffmpeg="ffmpeg",
            waveform_size=cfg.waveform_size,
            **tools,
        )
        renditions = [m4a]
    else:
        renditions = rendition_paths(plan, out / VIDEO_MP4, work)
        if len(sources) > 1:
            encode_timeline(sources, plan, renditions, ffmpeg="ffmpeg", threads=threads, **tools)
        elif chunk_s:
            scratch = work / "scratch"
            scratch.mkdir(exist_ok=True)
            keyframes = source_keyframes(sources[0], facts[0], ffprobe="ffprobe", **tools)
            chunks = split_chunks(plan, chunk_s=chunk_s, keyframes_s=keyframes)
            for chunk in chunks:
                encode_chunk(
                    sources[0],
                    plan,
                    chunk,
                    scratch,
                    ffmpeg="ffmpeg",
                    ffprobe="ffprobe",
                    threads=threads,
                    **tools,
                )
            audio = None
            if plan.audio is not None:
                audio = scratch / "audio.m4a"
                run_process(
                    audio_track_argv("ffmpeg", sources[0], plan, audio),
                    ffmpeg_progress=True,
                    **tools,
                )
            join_chunks(plan, chunks, scratch, renditions, audio=audio, ffmpeg="ffmpeg", **tools)
        else:
            encode_ladder(sources[0], plan, renditions, ffmpeg="ffmpeg", threads=threads, **tools)
    package_hls(
        plan, renditions, out, ffmpeg="ffmpeg", ffprobe="ffprobe", subtitles=subtitles, **tools
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
            ffmpeg="ffmpeg",
            thumb_at_s=cfg.thumbnail_at_s,
            thumb_width=cfg.thumbnail_width,
            interval_s=cfg.storyboard_interval_s,
            tile_width=cfg.storyboard_tile_width,
            columns=cfg.storyboard_columns,
            rows=cfg.storyboard_rows,
            **tools,
        )
    report = run_gate(
        out,
        media_expectations(plan, subtitles=len(subtitles)),
        ffmpeg="ffmpeg",
        ffprobe="ffprobe",
        **tools,
    )
    return plan, report
