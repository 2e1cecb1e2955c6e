"""The job API end to end: a real gateway process, Prefect server, process worker, PostgreSQL
ledger and an S3 store that enforces signatures (moto behind the SigV4-checking proxy)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from infra.store.layout import Area, job_prefix
from tests.infra.api.jobs import inbox_source, wait_terminal
from tests.support.delivery import ffprobe_json
from tests.support.documents import make_pdf

pytestmark = [
    pytest.mark.api,
    pytest.mark.prefect,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.media,
    pytest.mark.timeout(600),
]


@pytest.fixture(scope="module")
def finished_upload(api_stack, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A PDF uploaded through the API and run to its end: (client name, key, documents)."""
    name = "e2e-client"
    key = api_stack.key(name)
    pdf = make_pdf(tmp_path_factory.mktemp("upload") / "talk.pdf")
    with api_stack.gateway.client(key) as client:
        answer = client.post(
            "/v1/jobs",
            files={"file": ("My talk.pdf", pdf.read_bytes(), "application/pdf")},
            data={"preset": "tiny", "metadata": json.dumps({"ticket": "T-1"})},
        )
        assert answer.status_code == 202, answer.text
        submitted = answer.json()
        done = wait_terminal(client, submitted["id"])
    return {"name": name, "key": key, "submitted": submitted, "done": done, "location": answer}


def test_upload_is_accepted_and_runs_to_success(api_stack, finished_upload, tmp_path: Path):
    submitted, done = finished_upload["submitted"], finished_upload["done"]
    job_id = submitted["id"]
    assert finished_upload["location"].headers["location"] == submitted["links"]["self"]
    assert submitted["links"]["self"] == f"{api_stack.gateway.url}/v1/jobs/{job_id}"
    assert submitted["status"] == "QUEUED" and submitted["kind"] == "document"
    assert submitted["metadata"] == {"ticket": "T-1"}
    assert submitted["client"] == finished_upload["name"]
    row = api_stack.ledger.get(job_id)
    bucket = api_stack.settings.storage.bucket
    # Each upload has a folder of its own request under the job's inbox.
    assert re.fullmatch(rf"s3://{bucket}/inbox/{job_id}/[0-9a-f]{{16}}/My_talk\.pdf", row.source)
    assert row.client == finished_upload["name"] and row.flow_run_id == submitted["flow_run_id"]
    assert done["status"] == "SUCCEEDED", done
    assert done["progress"] == 100.0 and done["status_hint"] == "done"
    assert done["outputs_expire_at"] is not None

    video = done["outputs"]["video"]
    assert "X-Amz-Signature=" in video and video.startswith(f"http://{api_stack.proxy.address}/")
    mp4 = tmp_path / "video.mp4"
    mp4.write_bytes(httpx.get(video, timeout=60).raise_for_status().content)
    codecs = {s["codec_type"]: s["codec_name"] for s in ffprobe_json(mp4)["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}


def test_a_player_plays_hls_from_the_private_bucket(api_stack, finished_upload, tmp_path: Path):
    """ffmpeg, given only links.playback, plays every rendition through the signature-checking
    store; an unsigned segment URL is refused (403)."""
    done = finished_upload["done"]
    playback = done["links"]["playback"]
    assert playback.startswith(f"{api_stack.gateway.url}/v1/jobs/{done['id']}/hls/master.m3u8?")
    refused_before = len(api_stack.proxy.refused)
    out = tmp_path / "played.mkv"
    played = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", playback, "-map", "0", "-c", "copy", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert played.returncode == 0, played.stderr
    streams = ffprobe_json(out)["streams"]
    assert {s["codec_name"] for s in streams} == {"h264", "aac"}
    assert len(api_stack.proxy.refused) == refused_before  # every request it made was signed

    master = httpx.get(playback, timeout=30)
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    variant_url = next(ln for ln in master.text.splitlines() if ln and not ln.startswith("#"))
    variant = httpx.get(variant_url, timeout=30).text
    segment = next(ln for ln in variant.splitlines() if ln and not ln.startswith("#"))
    assert "X-Amz-Signature=" in segment
    assert httpx.get(segment, timeout=30).status_code == 200
    assert httpx.get(segment.split("?")[0], timeout=30).status_code == 403
    assert api_stack.proxy.refused[-1][2] == "unsigned"
    # The playlists themselves need the token (or the owner's key).
    assert httpx.get(playback.split("?")[0], timeout=30).status_code == 401
    forged = playback.rsplit("=", 1)[0] + "=9999999999.deadbeef"
    assert httpx.get(forged, timeout=30).json()["error"]["code"] == "unauthorized"


def test_idempotency_key_replays_the_first_job(api_stack, tmp_path: Path):
    key = api_stack.key(max_active=5)
    source = inbox_source(api_stack)
    body = {"source": source, "preset": "tiny"}
    with api_stack.gateway.client(key) as client:
        first = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-1"})
        again = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-1"})
        other = client.post(
            "/v1/jobs", json={**body, "preset": "sd"}, headers={"Idempotency-Key": "order-1"}
        )
        assert first.status_code == 202, first.text
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        assert other.status_code == 409
        assert other.json()["error"] == {
            "code": "idempotency_conflict",
            "message": other.json()["error"]["message"],
            "retryable": False,
        }
        # An upload replayed with its key returns the first job and keeps no second copy.
        pdf = make_pdf(tmp_path / "doc.pdf").read_bytes()
        form = {"files": {"file": ("doc.pdf", pdf)}, "data": {"preset": "tiny"}}
        up1 = client.post("/v1/jobs", headers={"Idempotency-Key": "upload-1"}, **form)
        up2 = client.post("/v1/jobs", headers={"Idempotency-Key": "upload-1"}, **form)
        assert (up1.status_code, up2.status_code) == (202, 200)
        assert up2.json()["id"] == up1.json()["id"]
        inbox = api_stack.store.list_keys("inbox/")
        kept = [k for k in inbox if k.endswith("/doc.pdf")]
        assert len(kept) == 1 and kept[0].startswith(f"inbox/{up1.json()['id']}/")
        for job_id in (first.json()["id"], up1.json()["id"]):
            assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202


def test_cancel_then_delete_leaves_nothing_and_an_audit_row(api_stack, tmp_path: Path):
    name = "canceller"
    key = api_stack.key(name)
    pdf = make_pdf(tmp_path / "doc.pdf").read_bytes()
    with api_stack.gateway.client(key) as client:
        job_id = client.post("/v1/jobs", files={"file": ("doc.pdf", pdf)}).json()["id"]
        assert api_stack.store.list_keys(job_prefix(job_id, Area.INBOX)) != []
        canceled = client.post(f"/v1/jobs/{job_id}/cancel")
        assert canceled.status_code == 202 and canceled.json()["status"] == "CANCELED"
        again = client.post(f"/v1/jobs/{job_id}/cancel")  # idempotent
        assert again.status_code == 202 and again.json()["status"] == "CANCELED"
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
        for answer in (client.get(f"/v1/jobs/{job_id}"), client.delete(f"/v1/jobs/{job_id}")):
            assert answer.status_code == 410 and answer.json()["error"]["code"] == "job_deleted"
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 410
    for area in Area:
        assert api_stack.store.list_keys(job_prefix(job_id, area)) == []
    row = api_stack.ledger.get(job_id)
    assert (row.status, row.deleted_by) == ("CANCELED", name) and row.deleted_at is not None


def test_delete_of_a_finished_job_removes_outputs_and_inbox(api_stack, finished_upload):
    """Last in this module: it deletes the job the tests above read."""
    done = finished_upload["done"]
    job_id = done["id"]
    assert api_stack.store.list_keys(job_prefix(job_id)) != []
    with api_stack.gateway.client(finished_upload["key"]) as client:
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
        gone = client.get(f"/v1/jobs/{job_id}")
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "job_deleted"
        listed = client.get("/v1/jobs").json()["jobs"]
        assert job_id not in {j["id"] for j in listed}
    for area in Area:
        assert api_stack.store.list_keys(job_prefix(job_id, area)) == []
    assert httpx.get(done["outputs"]["video"], timeout=30).status_code == 404
    row = api_stack.ledger.get(job_id)
    assert row.deleted_by == finished_upload["name"] and row.status == "SUCCEEDED"
