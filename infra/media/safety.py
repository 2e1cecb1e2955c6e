"""Input safety for media files that reference other files (HLS playlists, ffconcat lists).

ffmpeg follows such references: a crafted playlist could make a job read any file the worker can
read, or reach the network. Two layers stop that: ffmpeg always runs with
``-protocol_whitelist file,pipe`` (no network protocols) and concat lists with ``-safe 1``; and
before ffmpeg ever sees a referencing file, :func:`check_references` refuses any reference with a
scheme or one that resolves outside the job's own directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.errors import InputInvalid

__all__ = ["INPUT_SAFETY", "check_references", "references"]

# Every ffmpeg/ffprobe input gets these: inputs are files the job owns; nothing may pull in other
# protocols (http, concat:, ...). The one definition; argv builders import it.
INPUT_SAFETY: tuple[str, ...] = ("-protocol_whitelist", "file,pipe")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONCAT_FILE = re.compile(r"^\s*file\s+(?:'((?:[^']|'\\'')*)'|(\S+))\s*$")
_URI_ATTR = re.compile(r'URI="([^"]*)"')
HEAD_BYTES = 4096
MAX_LIST_BYTES = 4 * 1024 * 1024


def references(path: Path) -> list[str] | None:
    """The files a playlist or concat list points at; ``None`` if ``path`` is neither."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    is_hls = text_head.startswith(b"#EXTM3U")
    is_concat = text_head.startswith(b"ffconcat") or _CONCAT_FILE.match(
        text_head.split(b"\n", 1)[0].decode("utf-8", "replace")
    )
    if not (is_hls or is_concat):
        return None
    if path.stat().st_size > MAX_LIST_BYTES:
        raise InputInvalid(f"{path.name} is a playlist larger than {MAX_LIST_BYTES // 1024} KiB")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    refs: list[str] = []
    for line in lines:
        line = line.strip()
        if is_hls:
            refs += _URI_ATTR.findall(line)
            if line and not line.startswith("#"):
                refs.append(line)
        else:
            match = _CONCAT_FILE.match(line)
            if match:
                refs.append((match.group(1) or match.group(2)).replace("'\\''", "'"))
    return refs


def check_references(path: Path, root: Path | None = None) -> None:
    """Refuse ``path`` if it references a URL or a file outside ``root`` (its own folder)."""
    refs = references(path)
    if not refs:
        return
    base = (root or path.parent).resolve()
    for ref in refs:
        if _SCHEME.match(ref) and not ref.startswith("file:"):
            raise InputInvalid(f"{path.name} references a URL ({ref[:80]}); only local files")
        target = Path(ref.removeprefix("file:"))
        resolved = (path.parent / target).resolve()
        if not resolved.is_relative_to(base):
            raise InputInvalid(
                f"{path.name} references {ref[:80]}, outside the job's directory; refused"
            )
