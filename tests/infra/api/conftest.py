"""The job API's test stack, started once per session: everything real, on 127.0.0.1.

- moto's S3 server behind :class:`~tests.support.s3_signing_proxy.SigningProxy`, so every store
  request (the gateway's, the worker's, a player's) must be validly SigV4-signed;
- a PostgreSQL ledger database of its own;
- Prefect's test server, the ``video-job-process`` deployment and one process worker;
- ``reelflow serve`` in its own process (its RSS can be measured), talking to all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.settings import (
    LedgerSettings,
    NetSettings,
    Settings,
    StorageSettings,
)
from infra.store.api_keys import ApiKeyStore
from infra.store.artifacts import S3Store
from infra.store.ledger import JobLedger
from tests.support.gateway import Gateway, gateway_process
from tests.support.s3_signing_proxy import SigningProxy
from tests.support.tools import pool_worker

# A host the tests allowlist (for http:// sources served on loopback): "vm" and "localhost" both
# resolve to 127.0.0.1 here and stay refused.
ALLOWED_HOST = "127.0.0.3"


@dataclass
class Stack:
    gateway: Gateway
    settings: Settings
    ledger: JobLedger
    store: S3Store
    proxy: SigningProxy
    env: dict[str, str]
    prefect_api: str
    home: Path

    def key(self, name: str | None = None, *, rate: int = 600, max_active: int = 10) -> str:
        _, key = ApiKeyStore(self.ledger).create(
            name or f"client-{uuid.uuid4().hex[:8]}", rate_per_min=rate, max_active=max_active
        )
        return key


@pytest.fixture(scope="session")
def api_database() -> Iterator[str]:
    import psycopg2

    name = f"reelflow_api_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect("host=127.0.0.1 port=5432 dbname=postgres user=postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(scope="session")
def api_stack(
    tmp_path_factory: pytest.TempPathFactory,
    prefect_server: str,
    s3_server: str,
    api_database: str,
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("api-stack")
    proxy = SigningProxy(s3_server, "testing", "testing").start()
    bucket = f"api-{uuid.uuid4().hex[:10]}"
    env = {
        "REELFLOW_HOME": str(home / "home"),
        "REELFLOW_INPUT__ROOTS": str(home / "inputs"),
        "REELFLOW_STORAGE__BACKEND": "s3",
        "REELFLOW_STORAGE__S3_ENDPOINT": proxy.address,
        "REELFLOW_STORAGE__BUCKET": bucket,
        "REELFLOW_STORAGE__S3_ACCESS_KEY": "testing",
        "REELFLOW_STORAGE__S3_SECRET_KEY": "testing",
        "REELFLOW_LEDGER__URL": api_database,
        "REELFLOW_NET__ALLOW_HOSTS": ALLOWED_HOST,
        "REELFLOW_API__PLAYBACK_SECRET": "test-playback-secret",
        # Only video-job-process is deployed for these API tests: media uploads go to it and its
        # probe refuses them (input_invalid) instead of a media encode running per API test
        # (the media job has its own flow tests, tests/flows/test_media_*.py).
        "REELFLOW_PREFECT__MEDIA_DEPLOYMENT": "video-job/video-job-process",
    }
    settings = Settings(
        home=home / "home",
        storage=StorageSettings(
            backend="s3",
            s3_endpoint=proxy.address,
            bucket=bucket,
            s3_access_key="testing",
            s3_secret_key="testing",  # type: ignore[arg-type]
        ),
        ledger=LedgerSettings(url=api_database),
        net=NetSettings(allow_hosts=[ALLOWED_HOST]),
    )
    store = S3Store.from_settings(settings)
    store.ensure_bucket()
    ledger = JobLedger(api_database)
    try:
        with (
            pool_worker(
                prefect_server,
                "reelflow-process",
                "process",
                "video-job-process",
                log=home / "worker.log",
                **env,
            ),
            gateway_process(
                {**env, "PREFECT_API_URL": prefect_server}, home / "gateway.log"
            ) as gateway,
        ):
            yield Stack(gateway, settings, ledger, store, proxy, env, prefect_server, home)
    finally:
        ledger.dispose()
        proxy.stop()
