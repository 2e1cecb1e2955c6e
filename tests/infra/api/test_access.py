"""Who may call and how much: keys (and the CLI that makes them), rate limits, concurrency,
admission, size limits, and the one error body, against the real gateway process."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from infra.settings import get_settings
from tests.infra.api.jobs import inbox_source

pytestmark = [
    pytest.mark.api,
    pytest.mark.prefect,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.timeout(600),
]

MB = 1024 * 1024


def _error(answer: httpx.Response) -> dict:
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "retryable"}
    return body["error"]


def test_keys_cli_and_every_bad_key_is_one_401(api_stack, monkeypatch: pytest.MonkeyPatch):
    from cli.main import app

    for name, value in api_stack.env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["keys", "create", "cli-client", "--rate", "30/min"])
        assert created.exit_code == 0, created.output
        key = created.stdout.strip().splitlines()[0]
        assert key.startswith("rf_") and len(key) > 50
        listed = runner.invoke(app, ["keys", "list"])
        assert '"cli-client"' in listed.stdout and key not in listed.stdout
        assert '"rate_per_min": 30' in listed.stdout
        with api_stack.gateway.client(key) as client:
            assert client.get("/v1/jobs").status_code == 200
        revoked = runner.invoke(app, ["keys", "revoke", "cli-client"])
        assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    finally:
        get_settings.cache_clear()
    unknown = "rf_0123456789abcdef_" + "A" * 43
    answers = [
        httpx.get(f"{api_stack.gateway.url}/v1/jobs", headers=headers, timeout=30)
        for headers in (
            {},
            {"Authorization": f"Bearer {key}"},  # revoked
            {"Authorization": f"Bearer {unknown}"},
            {"Authorization": "Bearer nonsense"},
            {"Authorization": f"Basic {key}"},
        )
    ]
    assert {a.status_code for a in answers} == {401}
    errors = [_error(a) for a in answers]
    assert all(e == errors[0] for e in errors)  # no detail tells the cases apart
    assert errors[0]["code"] == "unauthorized" and not errors[0]["retryable"]
    assert answers[0].headers["www-authenticate"] == "Bearer"


def test_rate_limit_headers_count_down_and_a_burst_gets_429(api_stack):
    key = api_stack.key(rate=5)
    with api_stack.gateway.client(key) as client:
        answers = [client.get("/v1/jobs") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    assert {a.headers["x-ratelimit-limit"] for a in answers} == {"5"}
    assert all(int(a.headers["x-ratelimit-reset"]) > 0 for a in answers)
    error = _error(answers[-1])
    assert error["code"] == "rate_limited" and error["retryable"]
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_a_third_active_job_is_concurrency_limited(api_stack):
    key = api_stack.key(max_active=2)
    with api_stack.gateway.client(key) as client:
        body = {"source": inbox_source(api_stack), "preset": "tiny"}
        first, second = (client.post("/v1/jobs", json=body) for _ in range(2))
        assert (first.status_code, second.status_code) == (202, 202), first.text
        third = client.post("/v1/jobs", json=body)
        assert third.status_code == 429
        assert _error(third)["code"] == "concurrency_limited"
        for job in (first, second):
            assert client.post(f"/v1/jobs/{job.json()['id']}/cancel").status_code == 202
        fourth = client.post("/v1/jobs", json=body)  # both finished: admitted again
        assert fourth.status_code == 202
        assert client.post(f"/v1/jobs/{fourth.json()['id']}/cancel").status_code == 202


def test_oversized_upload_is_413_keeps_nothing_and_does_not_grow_the_gateway(api_stack):
    """The first oversized upload warms the path up (threads, connections, the SDK's multipart
    code); the second is measured: the gateway never holds the whole body (its RSS during the
    upload stays under the body's size) and keeps nothing of it afterwards."""
    import threading

    key = api_stack.key()
    store = api_stack.store
    body = b"%PDF-1.4\n" + b"0" * (21 * MB)  # sniffed as a document: the 20 MB limit applies
    with api_stack.gateway.client(key) as client:
        warm = client.post("/v1/jobs", files={"file": ("warm.pdf", body)})
        assert warm.status_code == 413, warm.text
        inbox = store.list_keys("inbox/")
        before = api_stack.gateway.rss()
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak.append(api_stack.gateway.rss())

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            answer = client.post("/v1/jobs", files={"file": ("big.pdf", body)})
        finally:
            done.set()
            sampler.join()
        after = api_stack.gateway.rss()
    assert answer.status_code == 413, answer.text
    error = _error(answer)
    assert error["code"] == "payload_too_large" and "big.pdf" in error["message"]
    assert store.list_keys("inbox/") == inbox
    pending = store.client._list_multipart_uploads(store.bucket, prefix="inbox/").uploads
    assert list(pending or []) == []
    assert max(peak) - before < len(body), (before, max(peak))  # never the whole body
    assert after - before < len(body) // 4, (before, after)


def test_errors_have_one_shape(api_stack):
    key = api_stack.key()
    with api_stack.gateway.client(key) as client:
        cases = {
            "no route": (client.get("/v2/nothing"), 404, "not_found"),
            "method": (client.put("/v1/jobs"), 405, "method_not_allowed"),
            "query": (client.get("/v1/jobs", params={"limit": 1000}), 422, "input_invalid"),
            "cursor": (client.get("/v1/jobs", params={"cursor": "x!"}), 422, "input_invalid"),
            "type": (client.post("/v1/jobs", content=b"x"), 422, "input_invalid"),
            "json": (
                client.post("/v1/jobs", content=b"{", headers={"Content-Type": "application/json"}),
                422,
                "input_invalid",
            ),
            "path source": (
                client.post("/v1/jobs", json={"source": "/etc/passwd"}),
                422,
                "input_invalid",
            ),
            "job": (client.get("/v1/jobs/nope"), 404, "not_found"),
            "big json": (
                client.post("/v1/jobs", json={"source": "s3://x/" + "a" * 70_000}),
                413,
                "payload_too_large",
            ),
            "metadata": (
                client.post(
                    "/v1/jobs",
                    json={"source": inbox_source(api_stack), "metadata": {"a": "b" * 1100}},
                ),
                422,
                "input_invalid",
            ),
        }
    for case, (answer, status, code) in cases.items():
        assert (answer.status_code, _error(answer)["code"]) == (status, code), case
    assert "POST" in cases["method"][0].headers["allow"]
