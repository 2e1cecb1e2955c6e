"""What a media file is, as typed facts read from ffprobe's JSON.

:func:`facts_from_probe` is pure (ffprobe's ``-show_format -show_streams`` JSON in, facts out);
:func:`probe_facts` runs ffprobe through the process runner. The facts go into the manifest and
feed the plan, so :class:`MediaFacts` is a JSON-serialisable pydantic model. Conventions:

- ``width``/``height`` are the stored frame size; ``display_width``/``display_height`` are what a
  viewer sees: the sample aspect ratio applied and the rotation honoured (90/270 swap them).
- ``rotation`` is the clockwise rotation a player applies, 0/90/180/270, from the display matrix
  side data (ffprobe reports it counter-clockwise) or the legacy ``rotate`` tag.
- ``vfr`` is a heuristic: the nominal rate (``r_frame_rate``) and the average rate differ by more
  than 1 %. Containers that report no average (Matroska) read as constant.
- Cover art (an ``attached_pic`` picture stream) is not video: such a file is audio-only.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from infra.errors import InputUnreadable, ReelflowError
from infra.media.ffprobe import probe_argv
from infra.media.safety import check_references
from infra.process.runner import Deadlines, ProcessGuard, run_process

__all__ = [
    "AudioFacts",
    "MediaFacts",
    "SubtitleFacts",
    "VideoFacts",
    "facts_from_probe",
    "parse_rate",
    "probe_facts",
]

HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
INTERLACED_ORDERS = frozenset({"tt", "bb", "tb", "bt"})
VFR_TOLERANCE = 0.01


class VideoFacts(BaseModel):
    index: int
    codec: str
    profile: str | None = None
    width: int
    height: int
    sar: str = "1:1"
    dar: str | None = None
    rotation: int = 0
    display_width: int
    display_height: int
    fps: str  # nominal rate, an exact fraction ("30000/1001")
    avg_fps: str | None = None
    vfr: bool = False
    pix_fmt: str | None = None
    bit_depth: int = 8
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_space: str | None = None
    hdr: bool = False
    field_order: str | None = None
    interlaced: bool = False
    frame_count: int | None = None
    start_s: float = 0.0
    duration_s: float | None = None

    @property
    def fps_value(self) -> Fraction:
        return Fraction(self.fps)


class AudioFacts(BaseModel):
    index: int
    codec: str
    profile: str | None = None
    channels: int
    layout: str | None = None
    sample_rate: int
    start_s: float = 0.0
    duration_s: float | None = None


class SubtitleFacts(BaseModel):
    index: int
    codec: str
    language: str | None = None


class MediaFacts(BaseModel):
    container: str
    duration_s: float
    start_s: float = 0.0
    size_bytes: int | None = None
    bit_rate: int | None = None
    video: VideoFacts | None = None
    audio: AudioFacts | None = None
    audio_streams: int = 0
    subtitles: list[SubtitleFacts] = []

    @property
    def kind(self) -> str:
        """``video`` (with or without audio), ``audio`` or ``none``."""
        return "video" if self.video else "audio" if self.audio else "none"


def parse_rate(value: object) -> Fraction | None:
    """``"30000/1001"`` → Fraction; None for missing or zero rates (``0/0``)."""
    if not isinstance(value, str) or not value:
        return None
    num, _, den = value.partition("/")
    try:
        rate = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            # ffprobe reports the display matrix counter-clockwise; players rotate clockwise.
            return int(-round(float(side["rotation"]))) % 360
    tag = _int((stream.get("tags") or {}).get("rotate"))
    return tag % 360 if tag is not None else 0


def _bit_depth(stream: dict[str, Any]) -> int:
    raw = _int(stream.get("bits_per_raw_sample"))
    if raw:
        return raw
    match = re.search(r"p(\d{2})(?:le|be)$", str(stream.get("pix_fmt") or ""))
    return int(match.group(1)) if match else 8


def _frame_count(stream: dict[str, Any]) -> int | None:
    count = _int(stream.get("nb_frames"))
    if count is None:
        tags = stream.get("tags") or {}
        count = _int(tags.get("NUMBER_OF_FRAMES") or tags.get("NUMBER_OF_FRAMES-eng"))
    return count if count and count > 0 else None


def _sar(stream: dict[str, Any]) -> Fraction:
    return parse_rate(str(stream.get("sample_aspect_ratio") or "").replace(":", "/")) or Fraction(1)


def _video(stream: dict[str, Any]) -> VideoFacts:
    width, height = int(stream["width"]), int(stream["height"])
    sar = _sar(stream)
    rotation = _rotation(stream)
    display_w, display_h = max(1, round(width * sar)), height
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w
    nominal = parse_rate(stream.get("r_frame_rate"))
    average = parse_rate(stream.get("avg_frame_rate"))
    if nominal is None or (average is not None and nominal > 2 * average):
        nominal = average  # a timebase-like nominal rate (1000/1) says nothing: trust the average
    if nominal is None:
        raise InputUnreadable(f"video stream {stream.get('index')} has no frame rate")
    vfr = average is not None and abs(average - nominal) / nominal > VFR_TOLERANCE
    transfer = stream.get("color_transfer")
    field_order = stream.get("field_order")
    return VideoFacts(
        index=int(stream["index"]),
        codec=str(stream.get("codec_name")),
        profile=stream.get("profile"),
        width=width,
        height=height,
        sar=f"{sar.numerator}:{sar.denominator}",
        dar=stream.get("display_aspect_ratio"),
        rotation=rotation,
        display_width=display_w,
        display_height=display_h,
        fps=f"{nominal.numerator}/{nominal.denominator}",
        avg_fps=f"{average.numerator}/{average.denominator}" if average else None,
        vfr=vfr,
        pix_fmt=stream.get("pix_fmt"),
        bit_depth=_bit_depth(stream),
        color_transfer=transfer,
        color_primaries=stream.get("color_primaries"),
        color_space=stream.get("color_space"),
        hdr=transfer in HDR_TRANSFERS,
        field_order=field_order,
        interlaced=field_order in INTERLACED_ORDERS,
        frame_count=_frame_count(stream),
        start_s=_float(stream.get("start_time")) or 0.0,
        duration_s=_float(stream.get("duration")),
    )


def _audio(stream: dict[str, Any]) -> AudioFacts:
    return AudioFacts(
        index=int(stream["index"]),
        codec=str(stream.get("codec_name")),
        profile=stream.get("profile"),
        channels=int(stream.get("channels") or 0),
        layout=stream.get("channel_layout"),
        sample_rate=int(stream.get("sample_rate") or 0),
        start_s=_float(stream.get("start_time")) or 0.0,
        duration_s=_float(stream.get("duration")),
    )


def _decodable(stream: dict[str, Any]) -> bool:
    return bool(stream.get("codec_name")) and stream.get("codec_name") != "none"


def facts_from_probe(raw: dict[str, Any]) -> MediaFacts:
    """Facts from ffprobe's JSON; raises InputUnreadable if no stream can be decoded."""
    streams = [s for s in raw.get("streams") or [] if _decodable(s)]
    fmt = raw.get("format") or {}
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video"
        and not (s.get("disposition") or {}).get("attached_pic")
        and s.get("width")
        and s.get("height")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio" and s.get("channels")]
    default_audio = next(
        (s for s in audios if (s.get("disposition") or {}).get("default")),
        audios[0] if audios else None,
    )
    if not videos and not audios:
        raise InputUnreadable("the file has no audio or video stream that can be decoded")
    video = _video(videos[0]) if videos else None
    audio = _audio(default_audio) if default_audio else None
    duration = _float(fmt.get("duration"))
    if duration is None:
        duration = max(
            (d for d in (video and video.duration_s, audio and audio.duration_s) if d), default=0.0
        )
    return MediaFacts(
        container=str(fmt.get("format_name") or ""),
        duration_s=duration,
        start_s=_float(fmt.get("start_time")) or 0.0,
        size_bytes=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
        video=video,
        audio=audio,
        audio_streams=len(audios),
        subtitles=[
            SubtitleFacts(
                index=int(s["index"]),
                codec=str(s.get("codec_name")),
                language=(s.get("tags") or {}).get("language"),
            )
            for s in streams
            if s.get("codec_type") == "subtitle"
        ],
    )


def probe_facts(
    path: Path, *, ffprobe: str, deadlines: Deadlines, guard: ProcessGuard | None
) -> MediaFacts:
    """ffprobe ``path`` under ``deadlines`` and return its facts.

    Playlists and concat lists pointing outside the file's folder are refused first
    (InputInvalid); anything ffprobe cannot read, or reads as no stream, is InputUnreadable.
    """
    check_references(path)
    try:
        result = run_process(
            probe_argv(ffprobe, path), deadlines=deadlines, guard=guard, error=InputUnreadable
        )
    except InputUnreadable as exc:
        raise InputUnreadable(
            f"{path.name} is not a media file ffprobe can read; upload a video or audio file",
            detail=exc.detail,
        ) from exc
    except ReelflowError as exc:
        if exc.code != "ffmpeg_timeout":
            raise
        raise InputUnreadable(
            f"probing {path.name} took longer than {deadlines.timeout_s:.0f} s; the file is "
            "damaged or not a media file",
            detail=exc.detail,
        ) from exc
    try:
        raw = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise InputUnreadable(f"ffprobe gave no JSON for {path.name}") from exc
    try:
        return facts_from_probe(raw)
    except InputUnreadable as exc:
        raise InputUnreadable(f"{path.name}: {exc.message}") from exc
