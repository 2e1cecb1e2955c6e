"""Output presets: the HLS ladder and encoder settings for each named preset.

``PRESETS`` are the document job's (fixed sizes); ``MEDIA_PRESETS`` are the media job's (target
heights, planned against the source by ``infra.media.plan``). Both are allowlists: a job names a
preset, never a size.

The top rendition is also the progressive MP4. Still-slide content is encoded at a low frame rate
(``REELFLOW_RENDER__SLIDE_FPS``) with x264's ``stillimage`` tuning; the narration is encoded
once and shared by every rendition.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MEDIA_PRESETS", "PRESETS", "MediaPreset", "Preset", "Rendition"]


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    maxrate_kbps: int

    @property
    def h264_level(self) -> int:
        """Level signalled in the stream and the HLS CODECS string (x10: 40 = 4.0).

        Set explicitly so the master playlist needs no probe of the output; each is above what
        the frame size needs at slide frame rates and far above the ladder's bitrates.
        """
        if self.height >= 1080:
            return 40
        return 31 if self.height >= 720 else 30


@dataclass(frozen=True)
class Preset:
    name: str
    renditions: tuple[Rendition, ...]
    crf: int = 23
    audio_kbps: int = 96  # one speech track, shared by every rendition
    x264_preset: str = "veryfast"
    thumb_width: int = 640
    work_disk_mb: int = 600  # free space a job of this preset needs in its work directory

    @property
    def top(self) -> Rendition:
        return self.renditions[0]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "hd",
            (
                Rendition("1080p", 1920, 1080, 3000),
                Rendition("720p", 1280, 720, 1800),
                Rendition("480p", 854, 480, 900),
            ),
        ),
        Preset(
            "sd",
            (
                Rendition("720p", 1280, 720, 1800),
                Rendition("480p", 854, 480, 900),
                Rendition("360p", 640, 360, 600),
            ),
        ),
        # Previews and tests: two tiny renditions, same pipeline.
        Preset(
            "tiny",
            (Rendition("360p", 640, 360, 600), Rendition("240p", 426, 240, 400)),
            thumb_width=320,
            work_disk_mb=100,
        ),
    )
}


@dataclass(frozen=True)
class MediaPreset:
    """A media job's ladder: target heights of the short side, top first (portrait video gets
    the same rungs on its width). The plan drops rungs above the source; bitrates and H.264
    levels follow from each rung's real size and frame rate (``infra.media.plan``)."""

    name: str
    heights: tuple[int, ...]


MEDIA_PRESETS: dict[str, MediaPreset] = {
    p.name: p
    for p in (
        MediaPreset("hd", (1080, 720, 480)),
        MediaPreset("sd", (720, 480, 360)),
        # Previews and tests: two tiny rungs, same pipeline.
        MediaPreset("tiny", (240, 144)),
    )
}
