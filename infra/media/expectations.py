"""What a job must publish: the publish gate's expectations, built from the plan of the job.

:func:`media_expectations` for a media job (from its :class:`~infra.media.plan.MediaPlan`),
:func:`document_expectations` for a document job. Paths are relative to the job's output folder
and come from :mod:`infra.media.outputs`, the one statement of the output names.
"""

from __future__ import annotations

from pydantic import BaseModel

from infra.media.outputs import (
    AUDIO_M4A,
    CAPTIONS_VTT,
    HLS_MASTER,
    STORYBOARD_VTT,
    THUMB,
    VIDEO_MP4,
    hls_audio_playlist,
    hls_variant_playlist,
)
from infra.media.plan import MediaPlan
from infra.media.presets import Preset

__all__ = [
    "GateExpectations",
    "RenditionExpectation",
    "document_expectations",
    "media_expectations",
]


class RenditionExpectation(BaseModel):
    name: str
    playlist: str  # relative to the output folder
    width: int | None = None
    height: int | None = None


class GateExpectations(BaseModel):
    duration_s: float
    segment_s: float
    renditions: list[RenditionExpectation]
    mp4: str = VIDEO_MP4
    master: str = HLS_MASTER
    video: bool = True
    audio: bool = True
    fps: float | None = None
    frames: int | None = None
    frame_tolerance: int = 2
    files: list[str] = []
    subtitles: int = 0


def media_expectations(plan: MediaPlan, *, subtitles: int = 0) -> GateExpectations:
    """What a media job built from ``plan`` must publish."""
    if plan.kind == "audio":
        return GateExpectations(
            duration_s=plan.duration_s,
            segment_s=plan.segment_s,
            renditions=[RenditionExpectation(name="audio", playlist=hls_audio_playlist())],
            mp4=AUDIO_M4A,
            video=False,
            files=[THUMB],
            subtitles=subtitles,
        )
    return GateExpectations(
        duration_s=plan.duration_s,
        segment_s=plan.segment_s,
        renditions=[
            RenditionExpectation(
                name=r.name, playlist=hls_variant_playlist(r.name), width=r.width, height=r.height
            )
            for r in plan.rungs
        ],
        audio=plan.audio is not None,
        fps=float(plan.fps_value),
        frames=plan.frames,
        frame_tolerance=plan.frame_tolerance,
        files=[THUMB, STORYBOARD_VTT],
        subtitles=subtitles,
    )


def document_expectations(
    preset: Preset, *, narration_s: float, fps: int, segment_s: int, frame_tolerance: int = 2
) -> GateExpectations:
    """What a document job (``tasks/render/document.py``) must publish: the video is cut to the
    narration (``-t``), so its duration is the narration's; the ``fps`` filter ends on the frame
    nearest to that cut, so it has round(narration * fps) frames."""
    return GateExpectations(
        duration_s=narration_s,
        segment_s=segment_s,
        renditions=[
            RenditionExpectation(
                name=r.name, playlist=hls_variant_playlist(r.name), width=r.width, height=r.height
            )
            for r in preset.renditions
        ],
        fps=float(fps),
        frames=round(narration_s * fps),
        frame_tolerance=frame_tolerance,
        files=[THUMB, CAPTIONS_VTT],
    )
