"""The artifact store: local folder or S3/MinIO."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

__all__ = ["StorageSettings"]


class StorageSettings(BaseModel):
    backend: Literal["local", "s3"] = Field("local", description="Artifact store: local or s3.")
    local_root: Path | None = Field(
        None, description="Root folder of the local store (default: <home>/artifacts)."
    )
    bucket: str = Field("reelflow", description="Bucket (a folder for the local store).")
    s3_endpoint: str = Field("127.0.0.1:9000", description="S3/MinIO host:port.")
    s3_secure: bool = Field(False, description="Use HTTPS for the S3 endpoint.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key: str = Field("minioadmin", description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr("minioadmin"), description="S3 secret key.")
    part_size_mb: int = Field(16, description="Multipart part size in MiB (at least 5).")
    presign_expiry_s: int = Field(
        3600, ge=1, le=7 * 24 * 3600, description="Lifetime of presigned GET URLs (at most 7 days)."
    )
