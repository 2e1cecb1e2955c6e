"""HLS playback from a private bucket: playlists served with every URI signed.

The stored playlists use relative URIs (``720p/index.m3u8``, ``seg_0001.ts``); a player given a
presigned master URL would request the variants unsigned and be refused. The gateway serves the
playlists itself instead, rewriting each URI: a playlist becomes a gateway URL carrying a
playback token (an HMAC of job id and expiry, :class:`PlaybackTokens`), anything else a presigned
store URL (or, for a store that cannot presign over HTTP, a gateway URL with the token that the
same route streams). A player opening ``links.playback`` of a job's status document thus needs
no credentials of its own, and every link it gets expires.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
import time
from collections.abc import Callable

__all__ = ["PlaybackTokens", "is_playlist", "rewrite_playlist", "safe_hls_path"]

_URI_ATTR = re.compile(r'URI="([^"]*)"')
_PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SERVED_SUFFIXES = (".m3u8", ".ts", ".m4s", ".mp4", ".aac", ".vtt")


class PlaybackTokens:
    """Short-lived tokens for one job's playlists: ``<expiry>.<hmac>``."""

    def __init__(self, secret: bytes, expiry_s: int, clock: Callable[[], float] = time.time):
        self._secret = secret
        self.expiry_s = expiry_s
        self._clock = clock

    def _sign(self, job_id: str, expires: int) -> str:
        message = f"{job_id}.{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:40]

    def mint(self, job_id: str) -> str:
        expires = int(self._clock()) + self.expiry_s
        return f"{expires}.{self._sign(job_id, expires)}"

    def valid(self, job_id: str, token: str) -> bool:
        expires, _, signature = token.partition(".")
        if not expires.isdigit() or int(expires) < self._clock():
            return False
        return hmac.compare_digest(signature, self._sign(job_id, int(expires)))


def safe_hls_path(path: str) -> str | None:
    """``path`` when it names a file under a job's ``hls/`` folder (plain parts, a served
    suffix), else None."""
    parts = path.split("/")
    if not 1 <= len(parts) <= 3 or not all(_PATH_PART.fullmatch(p) for p in parts):
        return None
    return path if path.endswith(_SERVED_SUFFIXES) else None


def is_playlist(path: str) -> bool:
    return path.endswith(".m3u8")


def rewrite_playlist(text: str, folder: str, sign: Callable[[str], str]) -> str:
    """``text`` with every relative URI (lines and ``URI="..."`` attributes) replaced by
    ``sign(path)``, ``path`` being relative to the ``hls/`` folder. A URI that is absolute or
    leaves the folder is dropped with its line (it would not play signed anyway)."""

    def resolve(uri: str) -> str | None:
        if not uri or "://" in uri or uri.startswith("/"):
            return None
        path = posixpath.normpath(posixpath.join(folder, uri))
        return path if safe_hls_path(path) is not None else None

    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            broken = False

            def attr(match: re.Match[str]) -> str:
                nonlocal broken
                path = resolve(match.group(1))
                if path is None:
                    broken = True
                    return match.group(0)
                return f'URI="{sign(path)}"'

            rewritten = _URI_ATTR.sub(attr, stripped)
            if not broken:
                out.append(rewritten)
            continue
        path = resolve(stripped)
        if path is not None:
            out.append(sign(path))
        elif out and out[-1].startswith(("#EXTINF", "#EXT-X-STREAM-INF")):
            out.pop()  # the tag that described the dropped URI goes with it
    return "\n".join(out) + "\n"
