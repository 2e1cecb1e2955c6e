"""Filter-graph pieces and encoder arguments shared by every media encode (pure functions).

The single pass, the chunk passes and the timeline all build their graphs from these pieces, so
a chunk's frame ``n`` is the single pass's frame ``n``: the output frame grid is anchored on the
source's own timestamps (``fps=...:start_time``, timestamps kept with ``-copyts -start_at_zero``
in chunks), frames are picked by their grid number (``trim=start_pts/end_pts`` after ``fps``) and
keyframes are forced on the same global frame numbers (the first frame of every HLS segment),
so every rendition's segments, and every chunk's joins, fall on the same frames.
"""

from __future__ import annotations

from fractions import Fraction

from infra.media.plan import AudioTarget, MediaPlan, Rung, SourcePlan

__all__ = [
    "CHUNK_MARGIN_S",
    "audio_chain",
    "chunk_seek_frame",
    "loudness_chain",
    "rung_scalers",
    "video_chain",
    "x264_args",
    "aac_args",
]

# Decoded before a chunk's first frame so stateful filters (deinterlacer, fps: one or two frames
# each) are warm; at least MIN_MARGIN_FRAMES.
CHUNK_MARGIN_S = 0.25
MIN_MARGIN_FRAMES = 4
# zscale's names for ffprobe's colour properties (most are the same).
_ZSCALE_MATRIX = {"bt2020nc": "2020_ncl", "bt2020c": "2020_cl", "bt709": "709"}


def _seconds(frames: int, fps: Fraction) -> str:
    """An exact-enough decimal for a grid time: ffmpeg rounds it back to the same frame."""
    return f"{float(frames / fps):.9f}"


def _tonemap(source: SourcePlan) -> str:
    tin = source.hdr_transfer or "smpte2084"
    pin = source.primaries or "bt2020"
    min_ = _ZSCALE_MATRIX.get(source.matrix or "bt2020nc", source.matrix or "2020_ncl")
    return (
        f"zscale=tin={tin}:pin={pin}:min={min_}:t=linear:npl=100,format=gbrpf32le,"
        "zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,"
        "format=yuv420p"
    )


def chunk_seek_frame(source: SourcePlan, plan: MediaPlan, start: int) -> int:
    """The grid frame a chunk starting at output frame ``start`` decodes from (its margin)."""
    if not start:
        return source.origin_frame
    margin = max(MIN_MARGIN_FRAMES, round(CHUNK_MARGIN_S * plan.fps_value))
    return max(source.origin_frame, source.origin_frame + start - margin)


def video_chain(
    source: SourcePlan,
    plan: MediaPlan,
    *,
    start: int = 0,
    end: int | None = None,
    exact: bool = False,
    canvas: tuple[int, int] | None = None,
) -> str:
    """Filters from a source's decoded video to 8-bit CFR frames numbered from 0.

    ``start``/``end``: keep output frames [start, end) of this source (a chunk); ``exact``: pad
    with the last frame when the source runs short so exactly ``end - start`` frames come out
    (timeline parts). ``canvas``: scale into ``fit_width x fit_height`` and pad to the canvas.
    """
    fps = plan.fps_value
    origin = source.origin_frame
    grid_start = chunk_seek_frame(source, plan, start)
    parts = []
    if source.deinterlace:
        parts.append("bwdif=mode=send_frame:parity=auto:deint=all")
    parts.append(
        f"fps=fps={fps.numerator}/{fps.denominator}:start_time={_seconds(grid_start, fps)}"
    )
    if exact and end is not None:
        parts.append(f"tpad=stop_mode=clone:stop={max(2, round(fps))}")
    if start or end is not None:
        trim = f"trim=start_pts={origin + start}"
        if end is not None:
            trim += f":end_pts={origin + end}"
        parts.append(trim)
    parts.append(f"setpts=PTS-{origin + start}")
    parts.append(_tonemap(source) if source.hdr_transfer else "format=yuv420p")
    if canvas is not None:
        width, height = canvas
        fit_w, fit_h = source.fit_width or width, source.fit_height or height
        parts.append(f"scale={fit_w}:{fit_h}:flags=bicubic,setsar=1")
        if (fit_w, fit_h) != (width, height):
            x, y = (width - fit_w) // 4 * 2, (height - fit_h) // 4 * 2
            parts.append(f"pad={width}:{height}:{x}:{y}:black")
    return ",".join(parts)


def audio_chain(source: SourcePlan, plan: MediaPlan, *, exact_samples: int | None = None) -> str:
    """Filters from a source's decoded audio to stereo float at the target rate, starting at
    the video's first frame (trimmed or padded with silence); ``exact_samples`` pads/cuts the
    part to that length (timeline parts: the part's video duration)."""
    assert plan.audio is not None
    rate = plan.audio.sample_rate
    if source.video_index is not None and plan.fps is not None:
        fps = plan.fps_value
        shift = f"asetpts=PTS-{source.origin_frame * fps.denominator}/{fps.numerator}/TB"
    else:
        shift = "asetpts=PTS-STARTPTS"
    parts = [
        shift,
        f"aresample={rate}:async=1:first_pts=0",
        f"aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts=stereo",
    ]
    if exact_samples is not None:
        parts.append(f"apad=whole_len={exact_samples},atrim=end_sample={exact_samples}")
    return ",".join(parts)


def loudness_chain(target: AudioTarget) -> str:
    """EBU R128 loudness normalisation (one pass, dynamic) back at the target rate."""
    return (
        f"loudnorm=I={target.loudness_lufs}:TP={target.true_peak_db}:"
        f"LRA={target.loudness_range_lu},aresample={target.sample_rate},"
        f"aformat=sample_fmts=fltp:sample_rates={target.sample_rate}:channel_layouts=stereo"
    )


def rung_scalers(label: str, rungs: list[Rung], prefix: str = "v") -> list[str]:
    """Graph statements splitting ``[label]`` into one scaled stream per rung: ``[v0]``, ..."""
    if len(rungs) == 1:
        r = rungs[0]
        return [f"[{label}]scale={r.width}:{r.height}:flags=bicubic,setsar=1[{prefix}0]"]
    splits = "".join(f"[{prefix}s{i}]" for i in range(len(rungs)))
    graph = [f"[{label}]split={len(rungs)}{splits}"]
    graph += [
        f"[{prefix}s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1[{prefix}{i}]"
        for i, r in enumerate(rungs)
    ]
    return graph


def x264_args(plan: MediaPlan, rung: Rung, *, first_frame: int = 0, threads: int = 0) -> list[str]:
    """H.264 High for ``rung``; keyframes exactly on the first frame of every HLS segment.

    ``first_frame``: the global number of this encode's first frame (a chunk's start, which is
    itself a segment start), so a chunk forces keyframes on the same frames as the single pass.
    Scene-cut keyframes are off and the GOP is longer than a segment: every rendition and every
    chunk has the same keyframes.
    """
    fps = plan.fps_value
    segment_frames = plan.segment_start_frame(1)
    first_segment = 0
    while plan.segment_start_frame(first_segment) < first_frame:
        first_segment += 1
    numerator = plan.segment_s * fps.numerator
    force = (
        f"expr:gte(n+{first_frame},ceil((n_forced+{first_segment})*{numerator}/{fps.denominator}))"
    )
    args = [
        "-c:v",
        "libx264",
        "-preset",
        plan.x264_preset,
        "-profile:v",
        "high",
        "-level:v",
        f"{rung.level / 10:.1f}",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        str(plan.crf),
        "-maxrate",
        f"{rung.maxrate_kbps}k",
        "-bufsize",
        f"{rung.bufsize_kbps}k",
        "-g",
        str(2 * segment_frames),
        "-sc_threshold",
        "0",
        "-force_key_frames",
        force,
        "-fps_mode",
        "passthrough",
        "-threads",
        str(threads),
    ]
    if any(s.hdr_transfer for s in plan.sources):
        args += ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
    return args


def aac_args(target: AudioTarget) -> list[str]:
    return [
        "-c:a",
        "aac",
        "-b:a",
        f"{target.kbps}k",
        "-ar",
        str(target.sample_rate),
        "-ac",
        str(target.channels),
    ]
