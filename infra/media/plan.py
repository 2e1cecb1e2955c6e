"""The media plan: what a media job will produce from its source(s), decided before any encode.

:func:`plan_media` turns :class:`~infra.media.facts.MediaFacts` and a media preset into a
:class:`MediaPlan` (JSON: it goes into the manifest and travels between tasks and chunk runs).
Rules, each a promise the publish gate later checks:

- never upscale: rungs above the source's short side are dropped; a source smaller than the
  lowest rung gets one rung at its own size. Rungs name the short side, so a portrait source
  (after rotation) keeps portrait rungs;
- square pixels in the display aspect (SAR applied, rotation honoured), even dimensions;
- 8-bit 4:2:0 H.264 High for everything; HDR (PQ/HLG) is tone-mapped to SDR BT.709;
- constant frame rate: the nominal rate, divided by the smallest integer that brings it to
  ``max_fps`` or below (120 → 60, 100 → 50), so no frame is judder-duplicated;
- interlaced sources are deinterlaced (bwdif, one frame per frame);
- audio becomes stereo AAC-LC at 48 kHz, loudness-normalised (EBU R128), surround downmixed;
- the output timeline starts at the source's first video frame (``origin_frame`` on the output
  frame grid); audio before it is trimmed, a late audio start is padded with silence.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel

from infra.errors import InputInvalid
from infra.media.facts import MediaFacts
from infra.media.presets import MediaPreset
from infra.settings.media import MediaSettings

__all__ = [
    "AudioTarget",
    "MediaPlan",
    "Rung",
    "SourcePlan",
    "audio_target",
    "h264_level",
    "ladder",
    "output_fps",
    "plan_media",
    "rung_maxrate_kbps",
    "source_plan",
]

# (level x10, max macroblocks/s, max frame size in macroblocks, max bitrate kbit/s, max CPB kbit)
# from ITU-T H.264 Table A-1 (Baseline/Main values; High allows 1.25x the bitrate and CPB).
_LEVELS = (
    (10, 1485, 99, 64, 175),
    (11, 3000, 396, 192, 500),
    (12, 6000, 396, 384, 1000),
    (13, 11880, 396, 768, 2000),
    (20, 11880, 396, 2000, 2000),
    (21, 19800, 792, 4000, 4000),
    (22, 20250, 1620, 4000, 4000),
    (30, 40500, 1620, 10000, 10000),
    (31, 108000, 3600, 14000, 14000),
    (32, 216000, 5120, 20000, 20000),
    (40, 245760, 8192, 20000, 25000),
    (41, 245760, 8192, 50000, 62500),
    (42, 522240, 8704, 50000, 62500),
    (50, 589824, 22080, 135000, 135000),
    (51, 983040, 36864, 240000, 240000),
    (52, 2073600, 36864, 240000, 240000),
)
HIGH_FACTOR = 1.25
# Capped-CRF ceiling: 5 Mbit/s for 1080p30, scaling with pixels^0.75 (720p ≈ 2.7, 480p ≈ 1.5,
# 360p ≈ 0.96, 144p ≈ 0.25 Mbit/s) and with sqrt(fps/30) within [0.8, 1.5].
_RATE_1080P_KBPS = 5000
_PIXELS_1080P = 1920 * 1080


class Rung(BaseModel):
    name: str
    width: int
    height: int
    maxrate_kbps: int
    bufsize_kbps: int
    level: int  # H.264 level x10 (31 = 3.1), signalled in the stream


class SourcePlan(BaseModel):
    """How one source is read: which streams, where its timeline starts, what it needs fixed."""

    name: str  # the original file name (kept for the manifest)
    duration_s: float
    video_index: int | None = None
    audio_index: int | None = None
    origin_frame: int = 0  # first output frame on the source's output-rate grid (t * fps)
    frames: int = 0  # output frames expected from this source
    deinterlace: bool = False
    hdr_transfer: str | None = None  # smpte2084 / arib-std-b67: tone-map to SDR
    primaries: str | None = None
    matrix: str | None = None
    fit_width: int | None = None  # picture size inside the canvas (timeline parts); None: canvas
    fit_height: int | None = None


class AudioTarget(BaseModel):
    sample_rate: int = 48000
    channels: int = 2
    kbps: int
    loudness_lufs: float
    true_peak_db: float
    loudness_range_lu: float


class MediaPlan(BaseModel):
    kind: Literal["video", "audio"]
    preset: str
    segment_s: int
    duration_s: float  # planned output duration
    fps: str | None = None  # exact output rate, e.g. "30000/1001"
    frames: int = 0  # planned output frames (video)
    frame_tolerance: int = 2
    rungs: list[Rung] = []  # top first; the top is also the MP4
    audio: AudioTarget | None = None
    sources: list[SourcePlan]
    crossfade_frames: int = 0  # timelines only
    crf: int = 21
    x264_preset: str = "veryfast"

    @property
    def fps_value(self) -> Fraction:
        if self.fps is None:
            raise InputInvalid("an audio-only plan has no frame rate")
        return Fraction(self.fps)

    @property
    def top(self) -> Rung:
        return self.rungs[0]

    def segment_start_frame(self, segment: int) -> int:
        """First frame of HLS segment ``segment``: the frame where a keyframe is forced."""
        return math.ceil(segment * self.segment_s * self.fps_value)


def output_fps(nominal: Fraction, max_fps: float) -> Fraction:
    """The nominal rate divided by the smallest integer that brings it to ``max_fps`` or below."""
    divisor = max(1, math.ceil(nominal / Fraction(max_fps)))
    return nominal / divisor


def _even_near(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _even_floor(value: float) -> int:
    return max(2, 2 * math.floor(value / 2))


def rung_maxrate_kbps(width: int, height: int, fps: Fraction) -> int:
    motion = min(1.5, max(0.8, math.sqrt(float(fps) / 30)))
    return max(100, round(_RATE_1080P_KBPS * (width * height / _PIXELS_1080P) ** 0.75 * motion))


def h264_level(width: int, height: int, fps: Fraction, maxrate_kbps: int, bufsize_kbps: int) -> int:
    """Smallest H.264 level (x10) whose frame size, macroblock rate and High-profile bitrate/CPB
    limits hold for this rung."""
    mbs_w, mbs_h = math.ceil(width / 16), math.ceil(height / 16)
    frame_mbs = mbs_w * mbs_h
    for level, max_mbps, max_fs, max_br, max_cpb in _LEVELS:
        if (
            frame_mbs <= max_fs
            and max(mbs_w, mbs_h) <= math.sqrt(8 * max_fs)
            and frame_mbs * fps <= max_mbps
            and maxrate_kbps <= max_br * HIGH_FACTOR
            and bufsize_kbps <= max_cpb * HIGH_FACTOR
        ):
            return level
    raise InputInvalid(f"{width}x{height} at {float(fps):.2f} fps is beyond H.264 level 5.2")


def ladder(display_w: int, display_h: int, heights: tuple[int, ...], fps: Fraction) -> list[Rung]:
    """Rungs for a picture of ``display_w`` x ``display_h`` square pixels, never upscaled."""
    short, long_ = min(display_w, display_h), max(display_w, display_h)
    portrait = display_h > display_w
    targets = [t for t in heights if t <= short]
    sizes: list[tuple[str, int, int]] = []
    for target in targets:
        s = _even_floor(target)
        length = min(_even_near(long_ * target / short), _even_floor(long_))
        sizes.append((f"{target}p", s, length))
    if not sizes:  # smaller than the lowest rung: one rung at its own (even) size
        s = _even_floor(short)
        sizes.append((f"{s}p", s, _even_floor(long_ * s / short)))
    rungs = []
    for name, s, length in sizes:
        w, h = (s, length) if portrait else (length, s)
        maxrate = rung_maxrate_kbps(w, h, fps)
        rungs.append(
            Rung(
                name=name,
                width=w,
                height=h,
                maxrate_kbps=maxrate,
                bufsize_kbps=2 * maxrate,
                level=h264_level(w, h, fps, maxrate, 2 * maxrate),
            )
        )
    return rungs


def audio_target(settings: MediaSettings) -> AudioTarget:
    return AudioTarget(
        kbps=settings.audio_kbps,
        loudness_lufs=settings.loudness_lufs,
        true_peak_db=settings.true_peak_db,
        loudness_range_lu=settings.loudness_range_lu,
    )


def source_plan(facts: MediaFacts, name: str, fps: Fraction | None) -> SourcePlan:
    """How to read one source at output rate ``fps`` (None: audio only)."""
    video = facts.video
    audio = facts.audio
    if video is None or fps is None:
        duration = (audio.duration_s if audio else None) or facts.duration_s
        return SourcePlan(
            name=name, duration_s=duration, audio_index=audio.index if audio else None
        )
    start = video.start_s - facts.start_s  # where ffmpeg puts the first frame
    video_duration = video.duration_s or (facts.duration_s - start)
    origin = math.floor(start * fps + Fraction(1, 2))
    end = math.floor((start + video_duration) * fps + Fraction(1, 2))
    return SourcePlan(
        name=name,
        duration_s=video_duration,
        video_index=video.index,
        audio_index=audio.index if audio else None,
        origin_frame=origin,
        frames=max(1, end - origin),
        deinterlace=video.interlaced,
        hdr_transfer=video.color_transfer if video.hdr else None,
        primaries=video.color_primaries,
        matrix=video.color_space,
    )


def plan_media(
    facts: MediaFacts,
    preset: MediaPreset,
    *,
    name: str,
    segment_s: int,
    settings: MediaSettings,
) -> MediaPlan:
    """The plan for one source; raises InputInvalid if it has neither video nor audio."""
    common = {
        "preset": preset.name,
        "segment_s": segment_s,
        "audio": audio_target(settings) if facts.audio else None,
        "crf": settings.crf,
        "x264_preset": settings.x264_preset,
        "frame_tolerance": settings.gate_frame_tolerance,
    }
    if facts.video is None:
        if facts.audio is None:
            raise InputInvalid(f"{name} has neither video nor audio to encode")
        source = source_plan(facts, name, None)
        return MediaPlan(kind="audio", duration_s=source.duration_s, sources=[source], **common)
    fps = output_fps(facts.video.fps_value, settings.max_fps)
    source = source_plan(facts, name, fps)
    return MediaPlan(
        kind="video",
        duration_s=float(source.frames / fps),
        fps=f"{fps.numerator}/{fps.denominator}",
        frames=source.frames,
        rungs=ladder(facts.video.display_width, facts.video.display_height, preset.heights, fps),
        sources=[source],
        **common,
    )
