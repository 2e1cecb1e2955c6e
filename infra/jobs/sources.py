"""A job's source, from where the request says to the job's own private copy.

A request's ``source`` is hostile until checked. The probe stage turns it into a private copy in the
job's work folder, and every later stage reads only that copy:

- a local path must resolve (symlinks followed, then checked) strictly inside one of the
  configured input roots (``REELFLOW_INPUT__ROOTS``), never under /proc, /sys or /dev; it is then
  opened component by component from the root with ``O_NOFOLLOW`` (a symlink swapped in after the
  check is refused, not followed) and must be a regular file (no FIFO, device or socket);
- ``s3://bucket/key`` must name this installation's bucket and a key under an allowed prefix
  (``REELFLOW_INPUT__S3_PREFIXES``, default ``inbox/``), so a request cannot re-publish another
  job's outputs;
- ``https://`` URLs are fetched under the SSRF rules (``infra/net/ssrf.py``).

The copy is bounded by the size limit of the job's kind (``input_too_large`` while copying).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from infra.errors import ConfigError, InputInvalid, InputTooLarge, InputUnreadable

__all__ = [
    "FORBIDDEN_ROOTS",
    "LocalSource",
    "S3Source",
    "copy_bounded",
    "open_local_source",
    "parse_s3_source",
    "resolve_local_source",
    "safe_file_name",
    "source_name",
]

FORBIDDEN_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
CHUNK = 1024 * 1024
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class LocalSource:
    root: Path  # the allowed root it lies in (resolved)
    path: Path  # the resolved path, strictly inside root


@dataclass(frozen=True)
class S3Source:
    bucket: str
    key: str


def _forbidden(path: Path) -> bool:
    return any(path == f or path.is_relative_to(f) for f in FORBIDDEN_ROOTS)


def checked_roots(roots: Sequence[Path]) -> list[Path]:
    """The roots resolved; a root of ``/`` or under /proc, /sys, /dev is a ConfigError."""
    out = []
    for root in roots:
        resolved = Path(os.path.realpath(root))
        if resolved == Path("/") or _forbidden(resolved):
            raise ConfigError(f"input root {root} would expose the whole system; name a folder")
        out.append(resolved)
    return out


def resolve_local_source(source: str, roots: Sequence[Path]) -> LocalSource:
    """The checked location of a local ``source``; InputInvalid when it is not allowed."""
    if "\x00" in source:
        raise InputInvalid("the source path contains a NUL byte")
    path = Path(source)
    if not path.is_absolute():
        raise InputInvalid(f"the source {source[:200]!r} must be an absolute path")
    real = Path(os.path.realpath(path))
    if _forbidden(real):
        raise InputInvalid(f"the source {source[:200]!r} is a system file; refused")
    for root in checked_roots(roots):
        if real != root and real.is_relative_to(root):
            return LocalSource(root, real)
    allowed = ", ".join(str(r) for r in roots) or "(none)"
    raise InputInvalid(
        f"the source {source[:200]!r} is outside the input folders ({allowed}); put it there or "
        "ask the operator to add its folder to REELFLOW_INPUT__ROOTS"
    )


@contextlib.contextmanager
def open_local_source(source: LocalSource) -> Iterator[int]:
    """A read-only fd of ``source``, opened without following any symlink below its root.

    Raises InputInvalid when a component is (now) a symlink or the file is not a regular file,
    InputInvalid when it does not exist.
    """
    relative = source.path.relative_to(source.root).parts
    fds: list[int] = []
    try:
        fds.append(os.open(source.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for part in relative[:-1]:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            fds.append(os.open(part, flags, dir_fd=fds[-1]))
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        fd = os.open(relative[-1], flags, dir_fd=fds[-1])
        fds.append(fd)
    except FileNotFoundError as exc:
        raise InputInvalid(f"{source.path.name} does not exist") from exc
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InputInvalid(
                f"{source.path.name}: a part of its path was replaced by a link after it was "
                "checked; refused"
            ) from exc
        if exc.errno == errno.EACCES:
            raise InputUnreadable(f"{source.path.name} cannot be read (permission denied)") from exc
        raise InputUnreadable(f"{source.path.name} cannot be opened: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputInvalid(f"{source.path.name} is not a regular file (a FIFO, device, ...)")
        os.set_blocking(fd, True)
        yield fd
    finally:
        for opened in reversed(fds):
            with contextlib.suppress(OSError):
                os.close(opened)


def copy_bounded(chunks: Iterator[bytes], target: Path, max_bytes: int, name: str) -> str:
    """Write ``chunks`` to ``target``; InputTooLarge past ``max_bytes``. Returns the sha256."""
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise InputTooLarge(
                        f"{name} is larger than the limit of {max_bytes / 1e6:.1f} MB "
                        "(REELFLOW_INPUT__MAX_BYTES for documents, MAX_MEDIA_BYTES for media)"
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def fd_chunks(fd: int, name: str) -> Iterator[bytes]:
    """Read ``fd`` to its end; an I/O error is input_unreadable (a special or failing file)."""
    while True:
        try:
            chunk = os.read(fd, CHUNK)
        except OSError as exc:
            raise InputUnreadable(f"{name} cannot be read: {exc.strerror}") from exc
        if not chunk:
            return
        yield chunk


def parse_s3_source(source: str, bucket: str, prefixes: Sequence[str]) -> S3Source:
    """``s3://<bucket>/<key>`` of this installation's bucket under an allowed prefix."""
    rest = source.removeprefix("s3://")
    name, _, key = rest.partition("/")
    if name != bucket:
        raise InputInvalid(f"the source bucket {name!r} is not this installation's bucket")
    parts = PurePosixPath(key).parts
    if not key or ".." in parts or "." in parts or key.startswith("/") or "//" in key:
        raise InputInvalid(f"the source key {key[:200]!r} is not a plain object key")
    if not any(key.startswith(p) for p in prefixes):
        raise InputInvalid(
            f"the source key {key[:200]!r} is outside the allowed prefixes ({', '.join(prefixes)})"
        )
    return S3Source(bucket, key)


def source_name(source: str) -> str:
    """The file name a source shows a user (kept in the manifest as given)."""
    return PurePosixPath(source.split("?", 1)[0].rstrip("/")).name or "source"


def safe_file_name(name: str, default: str = "source") -> str:
    """A name safe for the work folder and store keys: ASCII letters, digits, ``._-``.

    ``name`` is the original (spaces, quotes, any script); the manifest keeps it as it was.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE_NAME.sub("_", ascii_name).strip("._") or default
    return cleaned[:100]
