"""What a file is, from its content (never its extension alone): a document type or media.

``sniff`` reads the first bytes: ``%PDF-`` is a PDF; UTF-8 text is Markdown or plain text (the
extension only tells those two apart) unless it is an HLS playlist or an ffconcat list, which are
never documents; known container signatures are media. Anything else is confirmed by ffprobe
(:func:`detect_kind`), so a media file without a known signature is still routed to the media job.
"""

from __future__ import annotations

import enum
from pathlib import Path

from infra.errors import InputInvalid, InputUnreadable
from infra.jobs.models import JobKind
from infra.media.ffprobe import probe_media
from infra.process.runner import ProcessGuard

__all__ = ["Content", "HEAD_BYTES", "detect_kind", "sniff", "sniff_file"]

HEAD_BYTES = 8192
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown"}


class Content(enum.StrEnum):
    PDF = "pdf"
    MARKDOWN = "markdown"
    TEXT = "text"
    MEDIA_LIST = "media-list"  # HLS playlist or ffconcat list: never a document
    MEDIA = "media"  # a known audio/video container signature
    UNKNOWN = "unknown"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the end of the sample


def _media_signature(head: bytes) -> bool:
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")  # MP4, MOV, M4A, 3GP
        or (head.startswith(b"RIFF") and head[8:12] in (b"WAVE", b"AVI "))
        # Matroska/WebM, MP3 with ID3, Ogg, FLAC, FLV, ASF/WMV
        or head.startswith(
            (b"\x1a\x45\xdf\xa3", b"ID3", b"OggS", b"fLaC", b"FLV", b"\x30\x26\xb2\x75")
        )
        or (len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47)
        or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0)  # MPEG audio
    )


def sniff(head: bytes, name: str = "") -> Content:
    """The content type of a file from its first bytes (up to :data:`HEAD_BYTES`)."""
    if not head:
        raise InputInvalid(f"{name or 'the file'} is empty; upload a document or a media file")
    stripped = head.lstrip(b"\xef\xbb\xbf\r\n\t ")
    if stripped.startswith(b"%PDF-"):
        return Content.PDF
    if _is_text(head):
        first = stripped.split(b"\n", 1)[0].strip()
        if stripped.startswith(b"#EXTM3U") or first.startswith((b"ffconcat", b"file ")):
            return Content.MEDIA_LIST
        suffix = Path(name).suffix.lower()
        return Content.MARKDOWN if suffix in MARKDOWN_SUFFIXES else Content.TEXT
    if _media_signature(head):
        return Content.MEDIA
    return Content.UNKNOWN


def sniff_file(path: Path, name: str | None = None) -> Content:
    with path.open("rb") as fh:
        return sniff(fh.read(HEAD_BYTES), name or path.name)


def detect_kind(
    path: Path,
    content: Content,
    *,
    ffprobe: str,
    timeout_s: float,
    guard: ProcessGuard | None = None,
) -> JobKind:
    """DOCUMENT or MEDIA for a file whose sniffed ``content`` is known; ffprobe decides the rest.

    Raises InputInvalid for playlists/concat lists and for files that are neither.
    """
    if content in (Content.PDF, Content.MARKDOWN, Content.TEXT):
        return JobKind.DOCUMENT
    if content == Content.MEDIA_LIST:
        raise InputInvalid(
            f"{path.name} is a playlist or concat list; submit the media file itself"
        )
    try:
        probe_media(path, ffprobe=ffprobe, timeout_s=timeout_s, guard=guard)
    except InputUnreadable as exc:  # unreadable by ffprobe: not media either
        raise InputInvalid(
            f"{path.name} is neither a document (PDF, Markdown, UTF-8 text) nor a media file "
            "ffprobe can read (content sniffed, extension ignored)"
        ) from exc
    return JobKind.MEDIA
