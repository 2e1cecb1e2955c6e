"""HLS: cutting renditions into segments, RFC 6381 codec strings, measured bandwidth, the master
playlist, and a strict parser for the playlists we publish. Shared by every job kind (document
slide videos and media transcodes); pure functions, no process runs here."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infra.media.safety import INPUT_SAFETY
from infra.process.runner import FFMPEG_BASE_ARGS

__all__ = [
    "MasterPlaylist",
    "MediaPlaylist",
    "PlaylistError",
    "aac_codec_string",
    "avc_codec_string",
    "hls_argv",
    "master_playlist",
    "parse_master_playlist",
    "parse_media_playlist",
    "subtitle_media_playlist",
    "variant_bandwidth",
]


def hls_argv(
    ffmpeg: str,
    mp4s: Sequence[Path],
    playlists: Sequence[Path],
    segment_s: int,
    *,
    video: bool = True,
    audio: Literal["own", "top", "none"] = "own",
) -> list[str]:
    """Cut each rendition into MPEG-TS segments by stream copy, in one process.

    ``audio``: ``own`` maps each input's audio (document renditions carry their own copy),
    ``top`` takes every variant's audio from the first input (media ladders encode the audio
    once, into the top MP4), ``none`` makes video-only variants. ``video=False`` with ``own``
    cuts audio-only renditions.
    """
    argv = [ffmpeg, *FFMPEG_BASE_ARGS, "-loglevel", "error", "-y"]
    for mp4 in mp4s:
        argv += [*INPUT_SAFETY, "-i", str(mp4)]
    for i, playlist in enumerate(playlists):
        maps: list[str] = []
        if video:
            maps += ["-map", f"{i}:v"]
        if audio == "own":
            maps += ["-map", f"{i}:a"]
        elif audio == "top":
            maps += ["-map", "0:a"]
        argv += [
            *maps,
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
_AAC_OBJECT_TYPES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29}


def avc_codec_string(profile: str, level: int) -> str:
    """RFC 6381 codec string for H.264, e.g. ``avc1.640028`` for High@4.0."""
    constraints = 0xE0 if profile == "Constrained Baseline" else 0x00
    return f"avc1.{_PROFILES.get(profile, 0x64):02x}{constraints:02x}{level:02x}"


def aac_codec_string(profile: str | None) -> str:
    """RFC 6381 codec string for AAC from ffprobe's profile name (``LC`` → ``mp4a.40.2``)."""
    return f"mp4a.40.{_AAC_OBJECT_TYPES.get(profile or 'LC', 2)}"


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


def master_playlist(
    variants: Sequence[dict[str, object]], subtitles: Sequence[dict[str, object]] = ()
) -> str:
    """``variants``: dicts with uri, bandwidth, average, codecs and, for video, width, height,
    fps (audio-only variants leave those out). ``subtitles``: dicts with uri, name, language and
    optionally default; they form one ``SUBTITLES`` group every variant refers to."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for i, track in enumerate(subtitles):
        default = "YES" if track.get("default", i == 0) else "NO"
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{_quoted(track["name"])}",'
            f'LANGUAGE="{_quoted(track["language"])}",DEFAULT={default},AUTOSELECT=YES,'
            f'URI="{track["uri"]}"'
        )
    for v in variants:
        attrs = f"BANDWIDTH={v['bandwidth']},AVERAGE-BANDWIDTH={v['average']}"
        if v.get("width") and v.get("height"):
            attrs += f",RESOLUTION={v['width']}x{v['height']}"
        if v.get("fps"):
            attrs += f",FRAME-RATE={float(v['fps']):.3f}"  # type: ignore[arg-type]
        attrs += f',CODECS="{v["codecs"]}"'
        if subtitles:
            attrs += ',SUBTITLES="subs"'
        lines.append(f"#EXT-X-STREAM-INF:{attrs}")
        lines.append(str(v["uri"]))
    return "\n".join(lines) + "\n"


def _quoted(value: object) -> str:
    """A quoted-string attribute may not hold double quotes or line breaks (RFC 8216 4.2)."""
    return re.sub(r'["\x00-\x1f\x7f\x85\u2028\u2029]', "'", str(value))


def subtitle_media_playlist(vtt_name: str, duration_s: float) -> str:
    """A VOD subtitle playlist whose one segment is the whole WebVTT file."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration_s))}\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:{duration_s:.3f},\n{vtt_name}\n#EXT-X-ENDLIST\n"
    )


class PlaylistError(ValueError):
    """A playlist that does not follow RFC 8216 the way we write it."""


@dataclass
class MediaPlaylist:
    target_duration: int
    segments: list[tuple[float, str]]  # (EXTINF duration, URI)
    endlist: bool

    @property
    def duration_s(self) -> float:
        return sum(d for d, _ in self.segments)


@dataclass
class MasterPlaylist:
    variants: list[tuple[dict[str, str], str]]  # (EXT-X-STREAM-INF attributes, URI)
    media: list[dict[str, str]] = field(default_factory=list)  # EXT-X-MEDIA attributes


_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def _attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(text)}


def _lines(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("does not start with #EXTM3U")
    return lines


def parse_media_playlist(text: str) -> MediaPlaylist:
    lines = _lines(text)
    target: int | None = None
    segments: list[tuple[float, str]] = []
    pending: float | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            try:
                pending = float(line.split(":", 1)[1].split(",", 1)[0])
            except ValueError as exc:
                raise PlaylistError(f"bad EXTINF line {line!r}") from exc
        elif not line.startswith("#"):
            if pending is None:
                raise PlaylistError(f"segment {line!r} has no #EXTINF")
            segments.append((pending, line))
            pending = None
    if target is None:
        raise PlaylistError("has no #EXT-X-TARGETDURATION")
    if pending is not None:
        raise PlaylistError("ends with an #EXTINF and no segment")
    for duration, uri in segments:
        if round(duration) > target:
            raise PlaylistError(f"segment {uri} lasts {duration:.3f} s > target {target} s")
    return MediaPlaylist(target, segments, endlist=lines[-1] == "#EXT-X-ENDLIST")


def parse_master_playlist(text: str) -> MasterPlaylist:
    lines = _lines(text)
    master = MasterPlaylist(variants=[])
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = _attributes(line.split(":", 1)[1])
            if "BANDWIDTH" not in pending or "CODECS" not in pending:
                raise PlaylistError(f"variant without BANDWIDTH or CODECS: {line!r}")
        elif line.startswith("#EXT-X-MEDIA:"):
            master.media.append(_attributes(line.split(":", 1)[1]))
        elif not line.startswith("#"):
            if pending is None:
                raise PlaylistError(f"URI {line!r} without #EXT-X-STREAM-INF")
            master.variants.append((pending, line))
            pending = None
    if not master.variants:
        raise PlaylistError("lists no variant")
    return master
