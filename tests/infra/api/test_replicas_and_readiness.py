"""Two gateway processes share one rate budget through Redis; /readyz follows the store."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import gateway_process
from tests.support.tools import free_port

pytestmark = [pytest.mark.api, pytest.mark.prefect, pytest.mark.postgres, pytest.mark.timeout(600)]


@pytest.mark.redis
@pytest.mark.s3
def test_two_gateways_sharing_redis_share_one_budget(api_stack, tmp_path: Path):
    key = api_stack.key(rate=6)
    env = {
        **api_stack.env,
        "PREFECT_API_URL": api_stack.prefect_api,
        "REELFLOW_REDIS_URL": "redis://127.0.0.1:6379/0",
        "REELFLOW_API__REDIS_PREFIX": f"test:{uuid.uuid4().hex}:",
    }
    with (
        gateway_process(env, tmp_path / "a.log") as first,
        gateway_process(env, tmp_path / "b.log") as second,
    ):
        answers = [
            httpx.get(
                f"{(first if i % 2 == 0 else second).url}/v1/jobs",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            for i in range(7)
        ]
    assert [a.status_code for a in answers] == [200] * 6 + [429]
    remaining = [a.headers["x-ratelimit-remaining"] for a in answers]
    assert remaining == ["5", "4", "3", "2", "1", "0", "0"]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_readyz_names_the_store_while_it_is_down(prefect_server: str, tmp_path: Path):
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    env = {
        "PREFECT_API_URL": prefect_server,
        "REELFLOW_HOME": str(tmp_path / "home"),
        "REELFLOW_STORAGE__BACKEND": "s3",
        "REELFLOW_STORAGE__S3_ENDPOINT": f"127.0.0.1:{port}",
        "REELFLOW_STORAGE__BUCKET": f"ready-{uuid.uuid4().hex[:8]}",
        "REELFLOW_STORAGE__S3_ACCESS_KEY": "testing",
        "REELFLOW_STORAGE__S3_SECRET_KEY": "testing",
    }
    try:
        with gateway_process(env, tmp_path / "gateway.log") as gateway:
            ready = httpx.get(f"{gateway.url}/readyz", timeout=30)
            assert ready.status_code == 200, ready.text
            assert ready.json() == {
                "status": "ok",
                "checks": {"ledger": "ok", "store": "ok", "prefect": "ok"},
                "error": None,
            }
            moto.stop()
            down = httpx.get(f"{gateway.url}/readyz", timeout=30)
            assert down.status_code == 503
            body = down.json()
            assert body["status"] == "unavailable"
            assert body["checks"]["ledger"] == body["checks"]["prefect"] == "ok"
            assert body["checks"]["store"] != "ok"
            assert body["error"]["code"] == "storage_unavailable" and body["error"]["retryable"]
            assert "store" in body["error"]["message"]
            assert httpx.get(f"{gateway.url}/healthz", timeout=30).status_code == 200
            # The same port again; moto keeps its buckets in this process, so the bucket is back.
            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            moto.start()
            again = httpx.get(f"{gateway.url}/readyz", timeout=30)
            assert again.status_code == 200, again.text
    finally:
        moto.stop()
