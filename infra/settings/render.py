"""Rendering: presets, voices, slide frames, HLS segments, media tool paths and deadlines."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["RenderSettings"]


class RenderSettings(BaseModel):
    default_preset: str = Field("hd", description="Preset used when a job names none.")
    default_voice: str = Field("en-us", description="espeak-ng voice used when a job names none.")
    speech_rate_wpm: int = Field(
        160,
        description=(
            "espeak-ng speed for English; other languages scale their measured speed by it "
            "/ 160 (tasks/script/language.py)."
        ),
    )
    slide_fps: int = Field(2, description="Frame rate of slide videos (static content).")
    hls_segment_s: int = Field(6, description="Target HLS segment length in seconds.")
    font_path: Path = Field(
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        description="TrueType font for slides; Pillow's built-in font if missing.",
    )
    ffmpeg_bin: str = Field("ffmpeg", description="ffmpeg executable.")
    ffprobe_bin: str = Field("ffprobe", description="ffprobe executable.")
    espeak_bin: str = Field("espeak-ng", description="espeak-ng executable.")
    ffmpeg_threads: int = Field(
        1, description="x264 threads per rendition encoder (renditions already run in parallel)."
    )
    process_timeout_s: float = Field(900.0, description="Wall-clock limit for one media process.")
    process_startup_s: float = Field(
        30.0, description="Kill an ffmpeg that shows no progress this long after starting."
    )
    process_stall_s: float = Field(60.0, description="Kill a media process silent this long.")
    process_finish_s: float = Field(
        30.0, description="Kill an ffmpeg still running this long after its input ended."
    )
    kill_grace_s: float = Field(3.0, description="SIGTERM to SIGKILL grace period.")
