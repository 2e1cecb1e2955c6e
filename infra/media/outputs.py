"""Names of a job's published files (relative to its output folder) and store-safe file names.

Stated once here: the encoders write these names, the publish gate checks them, the upload ships
them. User-given names (sources, subtitle sidecars) never become output paths as they are:
:func:`safe_key_name` turns them into a key-safe name while the manifest keeps the original.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = [
    "AUDIO_M4A",
    "CAPTIONS_VTT",
    "HLS_DIR",
    "HLS_MASTER",
    "STORYBOARD_DIR",
    "STORYBOARD_SHEET",
    "STORYBOARD_VTT",
    "SUBTITLES_DIR",
    "THUMB",
    "VIDEO_MP4",
    "hls_audio_playlist",
    "hls_subtitle_playlist",
    "hls_variant_playlist",
    "media_outputs",
    "safe_key_name",
]

VIDEO_MP4 = "video.mp4"  # top rendition, progressive download, faststart
AUDIO_M4A = "audio.m4a"  # audio-only jobs
THUMB = "thumb.jpg"  # poster: a frame, or the waveform of an audio-only job
CAPTIONS_VTT = "captions.vtt"  # document jobs
HLS_DIR = "hls"
HLS_MASTER = f"{HLS_DIR}/master.m3u8"
STORYBOARD_DIR = "storyboard"
STORYBOARD_SHEET = f"{STORYBOARD_DIR}/sheet_%03d.jpg"  # ffmpeg image2 pattern, from 000
STORYBOARD_VTT = f"{STORYBOARD_DIR}/thumbnails.vtt"
SUBTITLES_DIR = "subtitles"


def media_outputs(kind: str) -> dict[str, str]:
    """What a media job publishes, output name -> key under its prefix (``kind`` of its plan)."""
    if kind == "audio":
        return {"audio": AUDIO_M4A, "hls": HLS_MASTER, "thumbnail": THUMB}
    return {"video": VIDEO_MP4, "hls": HLS_MASTER, "thumbnail": THUMB, "storyboard": STORYBOARD_VTT}


def hls_variant_playlist(rendition: str) -> str:
    return f"{HLS_DIR}/{rendition}/index.m3u8"


def hls_audio_playlist() -> str:
    return f"{HLS_DIR}/audio/index.m3u8"


def hls_subtitle_playlist(track: str) -> str:
    return f"{HLS_DIR}/subs_{track}/index.m3u8"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_KEY_NAME = 96


def safe_key_name(original: str) -> str:
    """A store- and shell-safe file name for ``original`` (a user's file name, not a path).

    Letters are folded to ASCII, anything else becomes ``_``; the extension is kept. When the name
    had to change, 8 hex digits of the original's sha256 are appended so two different originals
    ("a b.mp4", "a_b.mp4") never share a key. Never empty, never hidden, never a path.
    """
    base = original.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem:
        stem, ext = base, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    clean_stem = _UNSAFE.sub("_", ascii_stem).strip("._-")[: MAX_KEY_NAME - 20] or "file"
    clean_ext = _UNSAFE.sub("", ext.lower())[:10]
    name = f"{clean_stem}.{clean_ext}" if clean_ext else clean_stem
    if name != base:
        digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:8]
        stem_part, _, ext_part = name.rpartition(".") if clean_ext else (name, "", "")
        name = f"{stem_part}-{digest}" + (f".{ext_part}" if clean_ext else "")
    return name
