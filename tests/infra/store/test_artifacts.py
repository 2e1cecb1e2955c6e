"""LocalStore and S3Store (real minio SDK against moto's S3 server over HTTP)."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

import pytest

from infra.errors import StorageRejected, StorageUnavailable
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore, S3Store, open_store
from tests.support.s3_error_endpoint import S3ErrorEndpoint


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    if request.param == "local":
        return open_store(request.getfixturevalue("settings"))
    return open_store(request.getfixturevalue("s3_settings"))


def test_put_list_get_url_delete(store: ArtifactStore, tmp_path: Path):
    data = b"x" * (6 * 1024 * 1024 + 17)  # over one 5 MiB part: multipart on S3
    src = tmp_path / "video.mp4"
    src.write_bytes(data)
    obj = store.put_file("jobs/j1/video.mp4", src)
    assert obj.size == len(data)
    assert obj.sha256 == hashlib.sha256(data).hexdigest()
    assert obj.content_type == "video/mp4"
    store.put_bytes("jobs/j1/manifest.json", b"{}", "application/json")
    assert store.list_keys("jobs/j1/") == ["jobs/j1/manifest.json", "jobs/j1/video.mp4"]
    assert store.exists("jobs/j1/manifest.json")
    assert not store.exists("jobs/j1/missing.json")
    assert store.get_bytes("jobs/j1/video.mp4") == data
    with urllib.request.urlopen(store.url_for("jobs/j1/manifest.json"), timeout=10) as resp:
        assert resp.read() == b"{}"
    assert store.delete_prefix("jobs/j1/") == 2
    assert store.list_keys("jobs/j1/") == []


def test_local_store_refuses_keys_outside_its_root(settings: Settings, tmp_path: Path):
    store = open_store(settings)
    src = tmp_path / "f"
    src.write_bytes(b"1")
    with pytest.raises(StorageRejected):
        store.put_file("../../escape", src)


@pytest.mark.s3
def test_s3_presigned_url_expires_and_is_signed(s3_settings: Settings):
    store = open_store(s3_settings)
    store.put_bytes("jobs/j9/a.txt", b"hello", "text/plain")
    url = store.url_for("jobs/j9/a.txt")
    assert "X-Amz-Expires=3600" in url and "X-Amz-Signature=" in url


def test_s3_unreachable_is_storage_unavailable():
    store = S3Store("127.0.0.1:9", "k", "s", "bucket")  # nothing listens on port 9
    with pytest.raises(StorageUnavailable) as err:
        store.ensure_bucket()
    assert err.value.retryable


S3_ANSWERS = {
    "503-slowdown": (503, "SlowDown", StorageUnavailable),
    "500-internal": (500, "InternalError", StorageUnavailable),
    "403-denied": (403, "AccessDenied", StorageRejected),
    "400-bad-request": (400, "InvalidArgument", StorageRejected),
    "404-no-bucket": (404, "NoSuchBucket", StorageRejected),
}


@pytest.mark.parametrize("case", list(S3_ANSWERS))
def test_s3_error_answers_are_outages_or_refusals(case: str):
    """5xx and throttling are retryable outages; a 4xx is a refusal, never retried by the stage."""
    status, code, error = S3_ANSWERS[case]
    server = S3ErrorEndpoint(status, code)
    try:
        store = S3Store(server.endpoint, "k", "s", "bucket")
        with pytest.raises(error) as err:
            store.put_bytes("jobs/j1/manifest.json", b"{}", "application/json")
    finally:
        server.stop()
    assert server.requests and server.requests[0].startswith("PUT /bucket/jobs/j1/")
    assert err.value.retryable is (error is StorageUnavailable)
    assert str(err.value).startswith(f"[{err.value.code}]")
    if error is StorageRejected:
        assert code in str(err.value)  # the store's own words reach the message


@pytest.mark.s3
def test_s3_store_close_closes_its_pooled_connections(s3_settings: Settings):
    """close() closes the pooled sockets: none is left to the GC to report as an 'unclosed
    socket' ResourceWarning from whatever code it happens to interrupt."""
    import gc
    import warnings

    store = open_store(s3_settings)
    store.put_bytes("jobs/j1/manifest.json", b"{}", "application/json")
    assert store.get_bytes("jobs/j1/manifest.json") == b"{}"  # a pooled, kept-alive connection
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert isinstance(store, S3Store)
        store.close()
        del store
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
