"""Settings of media jobs (``REELFLOW_MEDIA__*`` once wired into :class:`Settings`).

The ``infra.media`` functions never read this object themselves: the stage that calls them passes
the fields they need, so the same functions serve tests, benchmarks and chunk runs on other hosts.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["MediaSettings"]


class MediaSettings(BaseModel):
    default_preset: str = Field("hd", description="Media preset used when a job names none.")
    max_duration_s: float = Field(
        4 * 3600.0, description="Longest accepted media input (or timeline), in seconds."
    )
    probe_span_s: float = Field(
        2.0, description="Seconds decoded at the start and at the end of an input to prove it."
    )
    loudness_lufs: float = Field(
        -16.0, description="Integrated loudness target (EBU R128) of every audio output, LUFS."
    )
    true_peak_db: float = Field(-1.5, description="True-peak ceiling of the loudness filter, dBTP.")
    loudness_range_lu: float = Field(11.0, description="Loudness range target, LU.")
    audio_kbps: int = Field(128, description="AAC bitrate of the stereo output track, kbit/s.")
    max_fps: float = Field(
        60.0, description="Highest output frame rate; faster sources are divided down to it."
    )
    x264_preset: str = Field("veryfast", description="x264 speed preset of media encodes.")
    crf: int = Field(21, description="x264 CRF of media encodes (each rung is also rate-capped).")
    chunk_threshold_s: float = Field(
        600.0, description="Sources longer than this are encoded in chunks (one flow run each)."
    )
    chunk_s: float = Field(120.0, description="Target chunk length; rounded to whole HLS segments.")
    chunk_deployment: str = Field(
        "media-chunk/media-chunk-process",
        description=(
            "Deployment that encodes one chunk (a flow run each); it must not take a job slot "
            "(reelflow-jobs), or a parent holding one would wait for its own chunks."
        ),
    )
    parent_encodes: bool = Field(
        True,
        description=(
            "A chunked job encodes, itself, the chunks whose runs no worker has taken yet "
            "(instead of waiting with its slot idle); false leaves every chunk to chunk runs."
        ),
    )
    chunk_poll_s: float = Field(
        1.0, description="How often a parent job reads the state of its chunk runs, seconds."
    )
    crash_retries: int = Field(
        1,
        ge=0,
        le=5,
        description=(
            "How often a media job whose flow run crashed is run again as the same flow run; "
            "the chunks it had verified in scratch are reused, not encoded again."
        ),
    )
    storyboard_interval_s: float = Field(
        5.0, description="Seconds between two storyboard (scrubbing) thumbnails."
    )
    storyboard_tile_width: int = Field(
        160, description="Width of one storyboard thumbnail in pixels (height keeps the aspect)."
    )
    storyboard_columns: int = Field(10, description="Storyboard thumbnails per sprite row.")
    storyboard_rows: int = Field(10, description="Storyboard rows per sprite sheet.")
    thumbnail_at_s: float = Field(
        5.0, description="Time of the poster thumbnail; clamped to the middle of short media."
    )
    thumbnail_width: int = Field(640, description="Width of the poster thumbnail in pixels.")
    waveform_size: str = Field(
        "1280x240", description="Size (WxH) of the waveform poster of audio-only jobs."
    )
    crossfade_s: float = Field(
        0.0, description="Crossfade between timeline parts, seconds (0 = hard cuts)."
    )
    gate_frame_tolerance: int = Field(
        2, description="Frames an output may differ from the plan (plus one per timeline cut)."
    )
