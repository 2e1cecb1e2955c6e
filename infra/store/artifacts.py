"""Artifact stores: where a job's outputs land.

``ArtifactStore`` is the contract every stage uses; ``LocalStore`` (a folder, the embedded default)
and ``S3Store`` (MinIO or any S3 API through the ``minio`` SDK) implement it. Uploads stream from
disk, record sha256 and check the stored size; a job's ``manifest.json`` is written last by the
upload stage and is the commit marker. Errors leave as StorageUnavailable (retryable: network,
5xx, throttling) or StorageRejected (not retryable: 4xx, size mismatch).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mimetypes
import os
import shutil
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from infra.errors import StorageError, StorageRejected, StorageUnavailable
from infra.settings import Settings
from infra.store.layout import Area, parse_job_prefix
from infra.store.streaming import ChunkReader, CountedChunks

__all__ = [
    "ArtifactStore",
    "LocalStore",
    "ObjectInfo",
    "S3Store",
    "StoredObject",
    "content_type_for",
    "open_store",
    "s3_errors",
    "sha256_file",
]

CHUNK = 1024 * 1024
# Part size of streamed uploads of unknown length: the minio SDK holds one part in memory, so
# S3's minimum keeps a gateway's upload memory small (10,000 parts still allow 50 GB).
STREAM_PART_SIZE = 5 * 1024 * 1024
_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
    ".json": "application/json",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
}


def content_type_for(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str


class ArtifactStore(Protocol):
    """Where outputs go. Keys are ``/``-separated; every method is idempotent."""

    def put_file(self, key: str, path: Path) -> StoredObject: ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject: ...

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str, max_bytes: int
    ) -> StoredObject:
        """Store ``chunks`` (length unknown up front) without holding them whole in memory.

        InputTooLarge as soon as more than ``max_bytes`` arrived; on that or any other error
        (the iterator's own included) nothing is left under ``key``, not even a partial upload.
        """
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks, streamed (StorageRejected when it does not exist)."""
        ...

    def size_of(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def list_objects(self, prefix: str) -> list[ObjectInfo]: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def delete_key(self, key: str) -> None:
        """Delete one object of a job (``<area>/<job_id>/...``, checked); a missing one is fine."""
        ...

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Abort partial uploads started before ``older_than``; returns how many."""
        ...

    def url_for(self, key: str, expires_s: int | None = None) -> str:
        """A URL a client can GET the object at (presigned for S3; ``file://`` locally)."""
        ...


def _local_write_error(key: str, base: Path, exc: OSError) -> StorageError:
    """A full disk or quota is a refusal an operator must fix; other I/O errors may pass."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return StorageRejected(f"cannot write {key} to {base}: {exc.strerror} (free space there)")
    return StorageUnavailable(f"cannot write {key} to {base}: {exc}")


class LocalStore:
    """A folder per bucket; writes go to a temp name and are renamed into place."""

    def __init__(self, root: Path, bucket: str) -> None:
        self.base = root / bucket

    def _path(self, key: str) -> Path:
        path = (self.base / key).resolve()
        if not path.is_relative_to(self.base.resolve()):
            raise StorageRejected(f"key {key!r} escapes the store")
        return path

    def _finish(self, key: str, tmp: Path) -> StoredObject:
        target = self._path(key)
        os.replace(tmp, target)
        return StoredObject(key, target.stat().st_size, sha256_file(target), content_type_for(key))

    def put_file(self, key: str, path: Path) -> StoredObject:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.partial")
            try:
                shutil.copyfile(path, tmp)
                return self._finish(key, tmp)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise _local_write_error(key, self.base, exc) from exc

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:  # noqa: ARG002
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.partial")
            try:
                tmp.write_bytes(data)
                return self._finish(key, tmp)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise _local_write_error(key, self.base, exc) from exc

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str, max_bytes: int
    ) -> StoredObject:
        target = self._path(key)
        counted = CountedChunks(chunks, max_bytes, key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.partial")
            try:
                with tmp.open("wb") as out:
                    for chunk in counted:
                        out.write(chunk)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise _local_write_error(key, self.base, exc) from exc
        return StoredObject(key, counted.size, counted.sha256(), content_type)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageRejected(f"{key} does not exist") from exc

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            fh = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise StorageRejected(f"{key} does not exist") from exc
        with fh:
            yield from iter(lambda: fh.read(CHUNK), b"")

    def size_of(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        root = self._path(prefix) if prefix else self.base
        if not root.exists():
            return []
        return sorted(
            p.relative_to(self.base).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(".partial")
        )

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        out = []
        for key in self.list_keys(prefix):
            with contextlib.suppress(FileNotFoundError):
                stat = self._path(key).stat()
                out.append(
                    ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
                )
        return out

    def delete_prefix(self, prefix: str) -> int:
        """Delete one job's prefix (``<area>/<job_id>/``, checked); returns how many objects."""
        area, job_id = parse_job_prefix(prefix)
        folder = self.base / area.value / job_id
        if folder.is_symlink():  # never follow a link planted where a job's folder should be
            folder.unlink()
            return 0
        root = self._path(prefix)
        if root.parent != (self.base / area.value).resolve():
            raise StorageRejected(f"refusing to delete {prefix!r}: it resolves outside its area")
        keys = self.list_keys(prefix)
        try:
            shutil.rmtree(root)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete {prefix} in {self.base}: {exc}") from exc
        return len(keys)

    def delete_key(self, key: str) -> None:
        parse_job_prefix("/".join(key.split("/")[:2]) + "/")
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete {key} in {self.base}: {exc}") from exc

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Temp files of interrupted writes (``*.partial``) older than the cutoff."""
        removed = 0
        if not self.base.exists():
            return 0
        for path in self.base.rglob("*.partial"):
            with contextlib.suppress(FileNotFoundError):
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) < older_than:
                    path.unlink()
                    removed += 1
        return removed

    def url_for(self, key: str, expires_s: int | None = None) -> str:  # noqa: ARG002
        return self._path(key).as_uri()


# S3 error codes that mean "try again later"; every other S3 error is a refusal.
_RETRYABLE_S3_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}
)
_MISSING_S3_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "NoSuchUpload"})


@contextlib.contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Translate what the minio SDK raises into the store's errors, cause kept.

    Outages are retryable (``storage_unavailable``): transport errors and timeouts, HTTP 5xx and
    429, and the S3 codes SlowDown/ServiceUnavailable/InternalError/RequestTimeout. A 4xx or any
    other S3 error code is a refusal (``storage_rejected``). Anything else (a TypeError, a bug) is
    not an outage and propagates unchanged, so it fails the job as ``internal_error``.
    """
    import urllib3
    from minio.error import InvalidResponseError, S3Error, ServerError

    try:
        yield
    except S3Error as exc:
        status = getattr(exc.response, "status", None) or 0
        if exc.code in _RETRYABLE_S3_CODES or status >= 500 or status == 429:
            raise StorageUnavailable(f"{what}: {exc.code} (HTTP {status})") from exc
        raise StorageRejected(f"{what}: {exc.code} {exc.message}") from exc
    except (ServerError, InvalidResponseError) as exc:
        status = int(getattr(exc, "status_code", 0) or getattr(exc, "_code", 0) or 0)
        if status >= 500 or status == 429 or status == 0:
            raise StorageUnavailable(f"{what}: server error {status or exc}") from exc
        raise StorageRejected(f"{what}: HTTP {status} {exc}") from exc
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise StorageUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc


class S3Store:
    """S3/MinIO through the ``minio`` SDK: multipart streaming from disk, presigned GET URLs."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
        part_size: int = 16 * 1024 * 1024,
        presign_expiry_s: int = 3600,
    ) -> None:
        import urllib3
        from minio import Minio

        # Bounded retries and timeouts: the stage's own retry policy decides what happens next.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503)),
            maxsize=8,
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        # Its pooled connections are closed when the store is (close()) or when it is collected:
        # never left to the GC as unclosed sockets.
        self._close = weakref.finalize(self, http.clear)
        self.bucket = bucket
        self.part_size = part_size
        self.presign_expiry = timedelta(seconds=presign_expiry_s)

    def close(self) -> None:
        """Close the pooled connections (idempotent; a later call opens new ones)."""
        self._close()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        cfg = settings.storage
        return cls(
            cfg.s3_endpoint,
            cfg.s3_access_key,
            cfg.s3_secret_key.get_secret_value(),
            cfg.bucket,
            secure=cfg.s3_secure,
            region=cfg.s3_region,
            part_size=max(5, cfg.part_size_mb) * 1024 * 1024,
            presign_expiry_s=cfg.presign_expiry_s,
        )

    def ensure_bucket(self) -> bool:
        """Create the bucket when missing; True if this call created it."""
        with s3_errors(f"cannot reach bucket {self.bucket}"):
            if self.client.bucket_exists(self.bucket):
                return False
            self.client.make_bucket(self.bucket)
            return True

    def put_file(self, key: str, path: Path) -> StoredObject:
        digest = sha256_file(path)
        size = path.stat().st_size
        ctype = content_type_for(key)
        with s3_errors(f"upload of {key} failed"):
            self.client.fput_object(
                self.bucket,
                key,
                str(path),
                content_type=ctype,
                part_size=self.part_size,
                metadata={"x-amz-meta-sha256": digest},
            )
            stat = self.client.stat_object(self.bucket, key)
        if stat.size != size:
            raise StorageRejected(f"{key}: stored {stat.size} bytes, expected {size}")
        return StoredObject(key, size, digest, ctype)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        import io

        with s3_errors(f"upload of {key} failed"):
            self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest(), content_type)

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str, max_bytes: int
    ) -> StoredObject:
        """One PUT when the stream fits one part, else a multipart upload the SDK aborts when
        the stream raises (InputTooLarge included): nothing is left under ``key``."""
        reader = ChunkReader(CountedChunks(chunks, max_bytes, key))
        with s3_errors(f"upload of {key} failed"):
            self.client.put_object(
                self.bucket,
                key,
                reader,  # type: ignore[arg-type]
                length=-1,
                part_size=min(self.part_size, STREAM_PART_SIZE),
                content_type=content_type,
                num_parallel_uploads=1,  # one part in memory (the SDK's default is 3 threads)
            )
        counted = reader.source
        return StoredObject(key, counted.size, counted.sha256(), content_type)

    def get_bytes(self, key: str) -> bytes:
        with s3_errors(f"download of {key} failed"):
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with s3_errors(f"download of {key} failed"):
            response = self.client.get_object(self.bucket, key)
            try:
                yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()

    def size_of(self, key: str) -> int | None:
        from minio.error import S3Error

        with s3_errors(f"stat of {key} failed"):
            try:
                return int(self.client.stat_object(self.bucket, key).size or 0)
            except S3Error as exc:
                if exc.code in _MISSING_S3_CODES:
                    return None
                raise

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        with s3_errors(f"stat of {key} failed"):
            try:
                self.client.stat_object(self.bucket, key)
                return True
            except S3Error as exc:
                if exc.code in _MISSING_S3_CODES:
                    return False
                raise

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(o.key for o in self.list_objects(prefix))

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        with s3_errors(f"listing {prefix} failed"):
            return [
                ObjectInfo(obj.object_name, obj.size or 0, obj.last_modified or datetime.now(UTC))
                for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if obj.object_name
            ]

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Abort multipart uploads initiated before the cutoff (they hold storage invisibly)."""
        # The minio SDK keeps ListMultipartUploads/AbortMultipartUpload behind private names.
        aborted = 0
        for area in Area:
            with s3_errors("aborting stale multipart uploads failed"):
                result = self.client._list_multipart_uploads(self.bucket, prefix=f"{area}/")
                for upload in result.uploads:
                    if (
                        upload.initiated_time is not None
                        and upload.initiated_time < older_than
                        and upload.upload_id is not None
                    ):
                        self.client._abort_multipart_upload(
                            self.bucket, upload.object_name, str(upload.upload_id)
                        )
                        aborted += 1
        return aborted

    def delete_prefix(self, prefix: str) -> int:
        """Delete one job's prefix (``<area>/<job_id>/``, checked); returns how many objects."""
        from minio.deleteobjects import DeleteObject

        parse_job_prefix(prefix)
        keys = self.list_keys(prefix)
        if not keys:
            return 0
        with s3_errors(f"deleting {prefix} failed"):
            errors = list(self.client.remove_objects(self.bucket, (DeleteObject(k) for k in keys)))
        if errors:
            raise StorageUnavailable(f"deleting {prefix}: {len(errors)} objects not removed")
        return len(keys)

    def delete_key(self, key: str) -> None:
        parse_job_prefix("/".join(key.split("/")[:2]) + "/")
        with s3_errors(f"deleting {key} failed"):
            self.client.remove_object(self.bucket, key)

    def url_for(self, key: str, expires_s: int | None = None) -> str:
        expiry = timedelta(seconds=expires_s) if expires_s else self.presign_expiry
        with s3_errors(f"presigning {key} failed"):
            return self.client.presigned_get_object(self.bucket, key, expires=expiry)


def open_store(settings: Settings) -> ArtifactStore:
    """The store the settings name; S3 buckets are created when missing."""
    cfg = settings.storage
    if cfg.backend == "local":
        assert cfg.local_root is not None
        return LocalStore(cfg.local_root, cfg.bucket)
    store = S3Store.from_settings(settings)
    store.ensure_bucket()
    return store
