"""The signature-checking S3 proxy: minio SDK calls pass, unsigned or tampered ones get 403."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pytest

from infra.store.artifacts import S3Store
from tests.support.s3_signing_proxy import SigningProxy

pytestmark = pytest.mark.s3


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_proxy_passes_signed_and_refuses_unsigned_or_tampered(s3_server: str):
    proxy = SigningProxy(s3_server, "testing", "testing").start()
    try:
        store = S3Store(proxy.address, "testing", "testing", f"sig-{uuid.uuid4().hex[:10]}")
        store.ensure_bucket()
        store.put_bytes("jobs/j1/a.txt", b"hello", "text/plain")
        big = store.put_stream("jobs/j1/b.bin", iter([b"x" * 3_000_000] * 4), "a/b", 10**8)
        assert big.size == 12_000_000 and store.size_of("jobs/j1/b.bin") == 12_000_000
        assert store.get_bytes("jobs/j1/a.txt") == b"hello"
        url = store.url_for("jobs/j1/a.txt", 60)
        assert _status(url) == 200
        unsigned = url.split("?")[0]
        tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
        other_key = url.replace("a.txt", "b.bin")
        assert [_status(u) for u in (unsigned, tampered, other_key)] == [403, 403, 403]
        reasons = [why for _, _, why in proxy.refused]
        assert reasons == ["unsigned", "signature mismatch", "signature mismatch"]
        wrong = S3Store(proxy.address, "testing", "not-the-secret", store.bucket)
        with pytest.raises(Exception, match="SignatureDoesNotMatch|403"):
            wrong.get_bytes("jobs/j1/a.txt")
    finally:
        proxy.stop()
