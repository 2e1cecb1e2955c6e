"""Streams of unknown length going into a store: counted, hashed, bounded, and readable as a file.

``put_stream`` of both stores wraps its chunks in :class:`CountedChunks` (size, sha256,
InputTooLarge past the limit); the S3 store hands the minio SDK a :class:`ChunkReader`, whose
``read(n)`` returns whole parts so the SDK never concatenates small reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from infra.errors import InputTooLarge

__all__ = ["ChunkReader", "CountedChunks"]


class CountedChunks:
    """Chunks passed through with their size and sha256; InputTooLarge past ``max_bytes``."""

    def __init__(self, chunks: Iterable[bytes], max_bytes: int, key: str) -> None:
        self._chunks = chunks
        self._max = max_bytes
        self._key = key
        self._digest = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            if self.size > self._max:
                raise InputTooLarge(
                    f"{self._key.rsplit('/', 1)[-1]} is larger than the limit of "
                    f"{self._max / 1e6:.1f} MB"
                )
            self._digest.update(chunk)
            yield chunk

    def sha256(self) -> str:
        return self._digest.hexdigest()


class ChunkReader:
    """A file-like ``read(n)`` over chunks: one call returns ``n`` bytes (the SDK's part), so
    the SDK never concatenates small reads."""

    def __init__(self, source: CountedChunks) -> None:
        self.source = source
        self._iter = iter(source)
        self._rest = b""

    def read(self, size: int = -1) -> bytes:
        parts = [self._rest] if self._rest else []
        held = len(self._rest)
        while size < 0 or held < size:
            chunk = next(self._iter, None)
            if chunk is None:
                break
            parts.append(chunk)
            held += len(chunk)
        data = b"".join(parts)
        if 0 <= size < len(data):
            data, self._rest = data[:size], data[size:]
        else:
            self._rest = b""
        return data
