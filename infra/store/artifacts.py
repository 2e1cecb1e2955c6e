"""Artifact stores: where a job's outputs land.

``ArtifactStore`` is the contract every stage uses; ``LocalStore`` (a folder, the embedded default)
and ``S3Store`` (MinIO or any S3 API through the ``minio`` SDK) implement it. Uploads stream from
disk, record sha256 and check the stored size; a job's ``manifest.json`` is written last by the
upload stage and is the commit marker. Errors leave as StorageUnavailable (retryable: network,
5xx, throttling) or StorageRejected (not retryable: 4xx, size mismatch).
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from infra.errors import StorageRejected, StorageUnavailable
from infra.settings import Settings

__all__ = [
    "ArtifactStore",
    "LocalStore",
    "ObjectInfo",
    "S3Store",
    "StoredObject",
    "content_type_for",
    "open_store",
    "sha256_file",
]

CHUNK = 1024 * 1024
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

    def get_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def list_objects(self, prefix: str) -> list[ObjectInfo]: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Abort partial uploads started before ``older_than``; returns how many."""
        ...

    def url_for(self, key: str) -> str: ...


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
            raise StorageUnavailable(f"cannot write {key} to {self.base}: {exc}") from exc

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
            raise StorageUnavailable(f"cannot write {key} to {self.base}: {exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageRejected(f"{key} does not exist") from exc

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
        keys = self.list_keys(prefix)
        root = self._path(prefix)
        shutil.rmtree(root, ignore_errors=True)
        return len(keys)

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

    def url_for(self, key: str) -> str:
        return self._path(key).as_uri()


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
        self.bucket = bucket
        self.part_size = part_size
        self.presign_expiry = timedelta(seconds=presign_expiry_s)

    def _translate(self, exc: Exception, what: str) -> Exception:
        from minio.error import S3Error, ServerError

        if isinstance(exc, S3Error):
            if exc.code in {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}:
                return StorageUnavailable(f"{what}: {exc.code}")
            return StorageRejected(f"{what}: {exc.code} {exc.message}")
        if isinstance(exc, ServerError):
            return StorageUnavailable(f"{what}: server error {exc.status_code}")
        return StorageUnavailable(f"{what}: {type(exc).__name__}: {exc}")

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
        try:
            if self.client.bucket_exists(self.bucket):
                return False
            self.client.make_bucket(self.bucket)
            return True
        except Exception as exc:
            raise self._translate(exc, f"cannot reach bucket {self.bucket}") from exc

    def put_file(self, key: str, path: Path) -> StoredObject:
        digest = sha256_file(path)
        size = path.stat().st_size
        ctype = content_type_for(key)
        try:
            self.client.fput_object(
                self.bucket,
                key,
                str(path),
                content_type=ctype,
                part_size=self.part_size,
                metadata={"x-amz-meta-sha256": digest},
            )
            stat = self.client.stat_object(self.bucket, key)
        except Exception as exc:
            raise self._translate(exc, f"upload of {key} failed") from exc
        if stat.size != size:
            raise StorageRejected(f"{key}: stored {stat.size} bytes, expected {size}")
        return StoredObject(key, size, digest, ctype)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        import io

        try:
            self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )
        except Exception as exc:
            raise self._translate(exc, f"upload of {key} failed") from exc
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest(), content_type)

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()
        except Exception as exc:
            raise self._translate(exc, f"download of {key} failed") from exc

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            self.client.stat_object(self.bucket, key)
            return True
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                return False
            raise self._translate(exc, f"stat of {key} failed") from exc
        except Exception as exc:
            raise self._translate(exc, f"stat of {key} failed") from exc

    def list_keys(self, prefix: str) -> list[str]:
        try:
            return sorted(
                obj.object_name
                for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if obj.object_name
            )
        except Exception as exc:
            raise self._translate(exc, f"listing {prefix} failed") from exc

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        try:
            return [
                ObjectInfo(obj.object_name, obj.size or 0, obj.last_modified or datetime.now(UTC))
                for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if obj.object_name
            ]
        except Exception as exc:
            raise self._translate(exc, f"listing {prefix} failed") from exc

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Abort multipart uploads initiated before the cutoff (they hold storage invisibly)."""
        # The minio SDK keeps ListMultipartUploads/AbortMultipartUpload behind private names.
        try:
            result = self.client._list_multipart_uploads(self.bucket, prefix="jobs/")
            stale = [
                u
                for u in result.uploads
                if u.initiated_time is not None
                and u.initiated_time < older_than
                and u.upload_id is not None
            ]
            for upload in stale:
                self.client._abort_multipart_upload(
                    self.bucket, upload.object_name, str(upload.upload_id)
                )
        except Exception as exc:
            raise self._translate(exc, "aborting stale multipart uploads failed") from exc
        return len(stale)

    def delete_prefix(self, prefix: str) -> int:
        from minio.deleteobjects import DeleteObject

        keys = self.list_keys(prefix)
        if not keys:
            return 0
        try:
            errors = list(self.client.remove_objects(self.bucket, (DeleteObject(k) for k in keys)))
        except Exception as exc:
            raise self._translate(exc, f"deleting {prefix} failed") from exc
        if errors:
            raise StorageUnavailable(f"deleting {prefix}: {len(errors)} objects not removed")
        return len(keys)

    def url_for(self, key: str) -> str:
        try:
            return self.client.presigned_get_object(self.bucket, key, expires=self.presign_expiry)
        except Exception as exc:
            raise self._translate(exc, f"presigning {key} failed") from exc


def open_store(settings: Settings) -> ArtifactStore:
    """The store the settings name; S3 buckets are created when missing."""
    cfg = settings.storage
    if cfg.backend == "local":
        assert cfg.local_root is not None
        return LocalStore(cfg.local_root, cfg.bucket)
    store = S3Store.from_settings(settings)
    store.ensure_bucket()
    return store
