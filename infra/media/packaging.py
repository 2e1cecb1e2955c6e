"""HLS packaging of a media plan's renditions: segments by stream copy, subtitle tracks, master.

The master playlist states what each variant really is: CODECS from the encoded streams' own
profile and level (ffprobe), BANDWIDTH/AVERAGE-BANDWIDTH measured from the segments, RESOLUTION
and FRAME-RATE from the plan. A video-only plan's variants name no audio codec; an audio-only
plan has one audio-only variant (no RESOLUTION). Sidecar subtitles become one SUBTITLES group.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from infra.errors import FFmpegFailed
from infra.media.ffprobe import probe_json
from infra.media.hls import (
    aac_codec_string,
    avc_codec_string,
    hls_argv,
    master_playlist,
    subtitle_media_playlist,
    variant_bandwidth,
)
from infra.media.outputs import (
    HLS_DIR,
    HLS_MASTER,
    SUBTITLES_DIR,
    hls_audio_playlist,
    hls_subtitle_playlist,
    hls_variant_playlist,
)
from infra.media.plan import MediaPlan
from infra.media.subtitles import (
    SubtitleTrack,
    convert_subtitle,
    track_key,
    track_language,
    with_timestamp_map,
)
from infra.process.runner import Deadlines, ProcessGuard, run_process

__all__ = ["package_hls", "stream_codecs"]

MPEGTS_HZ = 90_000


def stream_codecs(
    mp4: Path, *, ffprobe: str, deadlines: Deadlines, guard: ProcessGuard | None
) -> dict[str, str]:
    """RFC 6381 codec strings of ``mp4``'s first video and audio stream: {"video": ..., ...}."""
    data = probe_json(mp4, ffprobe=ffprobe, deadlines=deadlines, guard=guard, error=FFmpegFailed)
    codecs: dict[str, str] = {}
    for stream in data.get("streams") or []:
        kind = stream.get("codec_type")
        if kind == "video" and "video" not in codecs:
            codecs["video"] = avc_codec_string(
                str(stream.get("profile") or "High"), int(stream.get("level") or 40)
            )
        elif kind == "audio" and "audio" not in codecs:
            codecs["audio"] = aac_codec_string(stream.get("profile"))
    return codecs


def _first_segment_ticks(
    playlist: Path, *, ffprobe: str, deadlines: Deadlines, guard: ProcessGuard | None
) -> int:
    first = playlist.parent / "seg_0000.ts"
    data = probe_json(first, ffprobe=ffprobe, deadlines=deadlines, guard=guard, error=FFmpegFailed)
    # Cue time 0 is the first video frame (audio may start earlier by the AAC priming).
    streams = data.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    start = (video or data.get("format") or {}).get("start_time") or 0.0
    return round(float(start) * MPEGTS_HZ)


def _write_text(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.partial")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def package_hls(
    plan: MediaPlan,
    renditions: Sequence[Path],
    out: Path,
    *,
    ffmpeg: str,
    ffprobe: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
    subtitles: Sequence[SubtitleTrack] = (),
) -> Path:
    """Cut ``renditions`` (one MP4 per rung, audio in the first; or the M4A of an audio plan)
    into ``out/hls``, add the subtitle tracks, write and return the master playlist."""
    video = plan.kind == "video"
    if video:
        uris = [hls_variant_playlist(rung.name) for rung in plan.rungs]
    else:
        uris = [hls_audio_playlist()]
    playlists = [out / uri for uri in uris]
    for playlist in playlists:
        playlist.parent.mkdir(parents=True, exist_ok=True)
    audio: Literal["own", "top", "none"] = ("top" if plan.audio else "none") if video else "own"
    run_process(
        hls_argv(ffmpeg, renditions, playlists, plan.segment_s, video=video, audio=audio),
        deadlines=deadlines,
        guard=guard,
        ffmpeg_progress=True,
    )
    top_codecs = stream_codecs(renditions[0], ffprobe=ffprobe, deadlines=deadlines, guard=guard)
    variants: list[dict[str, object]] = []
    for i, (uri, playlist) in enumerate(zip(uris, playlists, strict=True)):
        peak, average = variant_bandwidth(playlist)
        codecs = (
            stream_codecs(renditions[i], ffprobe=ffprobe, deadlines=deadlines, guard=guard)
            if i
            else top_codecs
        )
        names = [codecs["video"]] if video and "video" in codecs else []
        if plan.audio is not None and "audio" in top_codecs:
            names.append(top_codecs["audio"])
        variant: dict[str, object] = {
            "uri": uri.removeprefix(f"{HLS_DIR}/"),
            "bandwidth": peak,
            "average": average,
            "codecs": ",".join(names),
        }
        if video:
            rung = plan.rungs[i]
            variant.update(width=rung.width, height=rung.height, fps=float(plan.fps_value))
        variants.append(variant)
    tracks: list[dict[str, object]] = []
    if subtitles:
        ticks = _first_segment_ticks(
            playlists[0], ffprobe=ffprobe, deadlines=deadlines, guard=guard
        )
        (out / SUBTITLES_DIR).mkdir(parents=True, exist_ok=True)
        for index, track in enumerate(subtitles):
            key = track_key(track, index)
            plain = convert_subtitle(
                track,
                out / SUBTITLES_DIR / f"{key}.vtt",
                ffmpeg=ffmpeg,
                deadlines=deadlines,
                guard=guard,
            )
            media = out / hls_subtitle_playlist(key)
            media.parent.mkdir(parents=True, exist_ok=True)
            _write_text(
                media.parent / f"{key}.vtt",
                with_timestamp_map(plain.read_text(encoding="utf-8"), ticks),
            )
            _write_text(
                media,
                subtitle_media_playlist(f"{key}.vtt", math.ceil(plan.duration_s * 1000) / 1000),
            )
            tracks.append(
                {
                    "uri": hls_subtitle_playlist(key).removeprefix(f"{HLS_DIR}/"),
                    "name": track.name or track_language(track),
                    "language": track_language(track),
                }
            )
    master = out / HLS_MASTER
    _write_text(master, master_playlist(variants, tracks))
    return master
