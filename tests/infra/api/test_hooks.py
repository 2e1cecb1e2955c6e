"""Inbound webhooks end to end (issue 12): a MinIO notification or a signed generic request at
the gateway → a Prefect event → the automation `reelflow bootstrap` made → a flow run → a job.

The stack of this module: Prefect's test server (its event and automation services run), the
API stack's process worker and store, and a gateway process configured with a watch rule and a
generic hook.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from infra.prefect.bootstrap import bootstrap
from infra.settings.webhooks import GenericHook, WatchRule, WebhookSettings
from infra.webhooks.signing import HEADER, signature_header
from tests.support.gateway import gateway_process
from tests.support.tools import ROOT, pool_worker
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [
    pytest.mark.api,
    pytest.mark.prefect,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.media,
    pytest.mark.timeout(600),
]
TOKEN = "minio-notify-token-0123456789"
HOOK_SECRET = "hook-secret-0123456789abcdef"
DOC = "# Hooks\n\nAn object landing in the bucket starts a job. It runs like any other job.\n"


@pytest.fixture(scope="module")
def hooked(api_stack, tmp_path_factory: pytest.TempPathFactory):
    watch = [
        WatchRule(
            name="uploads",
            prefix="uploads/",
            preset="tiny",
            deployment="video-job/video-job-process",
        )
    ]
    hooks = {"billing": GenericHook(secret=HOOK_SECRET, deployment="video-job/video-job-process")}  # type: ignore[arg-type]
    settings = api_stack.settings.model_copy(deep=True)
    settings.webhooks = WebhookSettings(s3_token=TOKEN, watch=watch, generic_hooks=hooks)  # type: ignore[arg-type]
    settings.prefect.job_concurrency = 100
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_stack.prefect_api}):
        bootstrap(settings, project_dir=ROOT)  # the watch rule's and the hook's automations
    time.sleep(3)  # Prefect loads new automations into its trigger cache asynchronously
    env = {
        **api_stack.env,
        "PREFECT_API_URL": api_stack.prefect_api,
        "REELFLOW_WEBHOOKS__S3_TOKEN": TOKEN,
        "REELFLOW_WEBHOOKS__WATCH": json.dumps([w.model_dump() for w in watch]),
        "REELFLOW_WEBHOOKS__GENERIC_HOOKS": json.dumps(
            {"billing": {"secret": HOOK_SECRET, "deployment": "video-job/video-job-process"}}
        ),
    }
    folder = tmp_path_factory.mktemp("hooks")
    with (
        gateway_process(env, folder / "gateway.log") as gateway,
        pool_worker(  # serves deliver-webhooks (and the other maintenance flows)
            api_stack.prefect_api,
            "reelflow-maintenance",
            "process",
            "deliver-webhooks",
            log=folder / "maintenance.log",
            create_pool=False,
            **{**env, "REELFLOW_NET__ALLOW_HOSTS": "127.0.0.1,127.0.0.3"},
        ),
    ):
        yield gateway, settings


def _notification(bucket: str, key: str, etag: str) -> dict[str, Any]:
    """What MinIO posts for an upload (S3 event JSON; the key is URL-encoded)."""
    from urllib.parse import quote_plus

    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{bucket}/{key}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2026-12-01T10:00:00.000Z",
                "eventName": "s3:ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(key),
                        "size": len(DOC),
                        "eTag": etag,
                        "sequencer": "18A2B3C4D5E6F708",
                    },
                },
            }
        ],
    }


def _jobs_of(api_stack, source: str) -> list[Any]:
    return [j for j in api_stack.ledger.list_jobs(limit=500) if j.source == source]


def _wait_job(api_stack, source: str, timeout_s: float = 300) -> Any:
    def finished() -> Any:
        found = _jobs_of(api_stack, source)
        if found and found[0].status in ("SUCCEEDED", "FAILED", "CANCELED"):
            return found[0]
        return None

    return wait_until(finished, timeout_s, f"a finished job for {source}", poll=0.5)


def _hook_events(prefect_api: str, name: str) -> int:
    """How many reelflow.hook.received events of hook ``name`` Prefect stored."""
    answer = httpx.post(
        f"{prefect_api}/events/filter",
        json={
            "filter": {
                "event": {"name": ["reelflow.hook.received"]},
                "resource": {"id": [f"reelflow.hook.{name}"]},
                "occurred": {"since": "2020-01-01T00:00:00Z"},
            },
            "limit": 50,
        },
        timeout=30,
    )
    answer.raise_for_status()
    return len(answer.json()["events"])


def test_an_uploaded_object_starts_one_job_even_if_notified_twice(api_stack, hooked):
    gateway, settings = hooked
    bucket = settings.storage.bucket
    key = f"uploads/{uuid.uuid4().hex[:8]} talk.md"
    api_stack.store.put_bytes(key, DOC.encode(), "text/markdown")
    notification = _notification(bucket, key, etag=uuid.uuid4().hex)
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        refused = client.post("/v1/hooks/s3", json=notification, headers={"Authorization": "nope"})
        assert refused.status_code == 401
        first = client.post(
            "/v1/hooks/s3", json=notification, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        again = client.post(
            "/v1/hooks/s3", json=notification, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert first.status_code == again.status_code == 202, first.text
    assert first.json()["events"] == again.json()["events"]  # the same event, twice
    source = f"s3://{bucket}/{key}"
    job = _wait_job(api_stack, source)
    assert job.status == "SUCCEEDED", (job.error_code, job.error_message)
    assert job.client == "s3:uploads" and job.id == first.json()["events"][0]
    time.sleep(5)  # a second run, if any, would have claimed (and been refused) by now
    assert len(_jobs_of(api_stack, source)) == 1


def test_a_signed_generic_hook_starts_a_job_and_bad_ones_emit_nothing(api_stack, hooked):
    gateway, settings = hooked
    bucket = settings.storage.bucket
    key = f"uploads/{uuid.uuid4().hex[:8]}.md"
    api_stack.store.put_bytes(key, DOC.encode(), "text/markdown")
    body = json.dumps({"source": f"s3://{bucket}/{key}", "preset": "tiny"}).encode()
    url = "/v1/hooks/generic/billing"
    before = _hook_events(api_stack.prefect_api, "billing")
    with httpx.Client(base_url=gateway.url, timeout=60) as client:

        def post(header: str) -> httpx.Response:
            return client.post(
                url, content=body, headers={HEADER: header, "Content-Type": "application/json"}
            )

        bad = post(signature_header(["wrong-secret"], body))
        stale = post(signature_header([HOOK_SECRET], body, timestamp=int(time.time()) - 600))
        good_header = signature_header([HOOK_SECRET], body)
        good = post(good_header)
        replay = post(good_header)
        # The same signed request with a made-up v1 beside the good one: still a replay.
        disguised = post(good_header.replace("v1=", "v1=" + "0" * 64 + ",v1=", 1))
        unknown = client.post(
            "/v1/hooks/generic/nobody", content=body, headers={HEADER: good_header}
        )
    answers = (bad, stale, good, replay, disguised, unknown)
    assert [r.status_code for r in answers] == [401, 401, 202, 401, 401, 401]
    assert bad.json()["error"]["code"] == "unauthorized"
    job = _wait_job(api_stack, f"s3://{bucket}/{key}")
    assert job.status == "SUCCEEDED" and job.client == "hook:billing"
    assert _hook_events(api_stack.prefect_api, "billing") == before + 1  # only the good one


def test_a_job_end_reaches_its_callback_through_the_automation(api_stack, hooked, record_property):
    """Nobody calls the deliverer: the job's outcome event triggers deliver-webhooks, which sends
    the signed callback (the maintenance worker of this module runs it)."""
    from infra.store.api_keys import ApiKeyStore

    gateway, settings = hooked
    name = f"cb-{uuid.uuid4().hex[:6]}"
    client_key, key = ApiKeyStore(api_stack.ledger).create(name, rate_per_min=600, max_active=5)
    receiver = WebhookReceiver(secrets=[client_key.webhook_secret or ""], host="127.0.0.3")
    try:
        bucket = settings.storage.bucket
        object_key = f"uploads/{uuid.uuid4().hex[:8]}.md"
        api_stack.store.put_bytes(object_key, DOC.encode(), "text/markdown")
        with gateway.client(key) as client:
            answer = client.post(
                "/v1/jobs",
                json={
                    "source": f"s3://{bucket}/{object_key}",
                    "preset": "tiny",
                    "callback_url": receiver.url,
                },
            )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        wait_until(
            lambda: any(r.json["type"] == "job.succeeded" for r in receiver.received),
            300,
            f"the job.succeeded callback of {job_id}",
            poll=0.2,
        )
        finished = api_stack.ledger.get(job_id).finished_at
        done = next(r for r in receiver.received if r.json["type"] == "job.succeeded")
        assert done.signed and done.json["job"]["id"] == job_id
        assert done.json["job"]["outputs"]["video"].startswith("http")
        record_property("job_end_to_callback_s", round(time.time() - finished.timestamp(), 2))
    finally:
        receiver.stop()
