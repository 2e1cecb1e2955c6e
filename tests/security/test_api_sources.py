"""Attacks found by the red team on the API's new entry points (media timelines and subtitles,
uploads that share a job id, signed hooks), each reproduced against the real code: the gateway's
upload receiver on a real store, and the gateway app under uvicorn."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from infra.api import create_app
from infra.api.uploads import MultipartForm, receive_upload
from infra.errors import InputInvalid
from infra.settings import Settings
from infra.store.api_keys import ApiKeyStore
from infra.store.artifacts import open_store
from infra.store.ledger import JobLedger
from tests.support.gateway import serve_app

BOUNDARY = "redteamboundary"


def _form(body_parts: list[tuple[str, str | None, bytes]]) -> MultipartForm:
    raw = b""
    for name, filename, data in body_parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        raw += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        raw += data + b"\r\n"
    raw += f"--{BOUNDARY}--\r\n".encode()
    chunks = iter([raw[i : i + 1000] for i in range(0, len(raw), 1000)])
    return MultipartForm(BOUNDARY.encode(), lambda: next(chunks, None))


def test_two_uploads_naming_one_job_id_never_share_or_delete_each_others_object(
    settings: Settings,
):
    """Client B names client A's chosen job id while A's request is still in flight: B's object
    lands beside A's, and B's failed form removes only its own."""
    store = open_store(settings)
    doc = b"# Notes\n\nA first sentence of the uploaded document.\n"
    first = receive_upload(
        _form([("job_id", None, b"invoice-42"), ("file", "talk.md", doc)]),
        store,
        settings,
        lambda fields: fields["job_id"],
    )
    with pytest.raises(InputInvalid):
        receive_upload(
            _form(
                [
                    ("job_id", None, b"invoice-42"),
                    ("file", "talk.md", b"# Other\n\nSomething else entirely here.\n"),
                    ("bogus", None, b"x"),  # the form fails after the file was stored
                ]
            ),
            store,
            settings,
            lambda fields: fields["job_id"],
        )
    assert store.list_keys("inbox/invoice-42/") == [first.stored.key]
    assert store.get_bytes(first.stored.key) == doc


@pytest.fixture()
def gateway(settings: Settings) -> Iterator[tuple[str, JobLedger, dict[str, str]]]:
    ledger = JobLedger.from_settings(settings.ledger)
    keys = {
        name: ApiKeyStore(ledger).create(name, rate_per_min=1000, max_active=5)[1]
        for name in ("alice", "mallory")
    }
    try:
        with serve_app(create_app(settings, ledger)) as url:
            yield url, ledger, keys
    finally:
        ledger.dispose()


@pytest.mark.parametrize(
    "field",
    [
        {"timeline": ["/etc/passwd"]},
        {"timeline": ["file:///etc/passwd"]},
        {"subtitles": [{"source": "/home/reelflow/inbox/private.srt"}]},
    ],
)
def test_no_api_source_is_a_path_on_the_worker(gateway, field):
    url, _, keys = gateway
    body = {"source": "https://media.example.org/a.mp4", "kind": "media", **field}
    answer = httpx.post(
        f"{url}/v1/jobs", json=body, headers={"Authorization": f"Bearer {keys['mallory']}"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "input_invalid"


def test_another_clients_upload_cannot_be_named(gateway, settings: Settings):
    url, ledger, keys = gateway
    bucket = settings.storage.bucket
    private = f"s3://{bucket}/inbox/invoice-2024/0123456789abcdef/report.mp4"
    # alice's job (a guessable id she chose), its upload in the inbox
    ledger.claim_job("invoice-2024", flow_run_id=None, client="alice", source=private)
    for field in ({"source": private}, {"timeline": [private]}):
        body = {"source": "https://media.example.org/a.mp4", "kind": "media", **field}
        answer = httpx.post(
            f"{url}/v1/jobs", json=body, headers={"Authorization": f"Bearer {keys['mallory']}"}
        )
        assert answer.status_code == 422, answer.text
        assert "not one of your uploads" in answer.json()["error"]["message"]
