"""Shared fixtures: isolated settings per test, and the real services tests run against.

- ``prefect_server``: Prefect's test harness (a real API server on SQLite, in a subprocess).
- ``s3_server``: moto's S3 server on 127.0.0.1 (a real HTTP server; the minio SDK talks to it).
- ``pg_url``: a fresh database on the PostgreSQL server at 127.0.0.1:5432, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.settings import Settings, get_settings
from tests.support.ledgers import close_ledgers
from tests.support.llm_double import LLMDouble
from tests.support.prefect_leaks import ignore_prefect_sockets, register
from tests.support.tools import PROCESS_DEPLOYMENT, PROCESS_POOL, deploy_to_pool, free_port

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")


@pytest.fixture(autouse=True)
def _only_prefect_leaks_tolerated() -> None:
    """See tests/support/prefect_leaks.py."""
    ignore_prefect_sockets()


@pytest.fixture(autouse=True)
def _close_ledgers() -> Iterator[None]:
    """Every ledger a test opened through tests.support.ledgers is closed after it."""
    yield
    close_ledgers()


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose every path lives under this test's tmp dir."""
    for key in list(os.environ):
        if key.startswith("REELFLOW_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REELFLOW_INPUT__ROOTS", str(tmp_path))  # the test's own files only
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        api_url = str(PREFECT_API_URL.value())
        register(api_url)
        yield api_url


@pytest.fixture(scope="session")
def process_pool(prefect_server: str) -> str:
    """The process work pool and the video-job-process deployment, made once per session (each
    costs a Prefect CLI start); the API URL. Tests stay independent: every job has its own id,
    and each test starts its own worker (``tests.support.tools.process_worker``)."""
    deploy_to_pool(prefect_server, PROCESS_POOL, "process", PROCESS_DEPLOYMENT)
    return prefect_server


class OwnPrefect(str):
    """The API URL of a test's own Prefect server; ``database_url`` is its SQLite database."""

    database_url: str


@pytest.fixture()
def own_prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnPrefect]:
    """A Prefect server of this test alone (the local server reelflow itself starts), with the
    process pool and video-job-process deployed: for tests that count the pool's workers or
    need every run of the pool to be theirs. The session's server has other workers on that
    pool (the API stack's, for the whole session), which would take a share of the runs."""
    from infra.prefect.server import LocalServer

    server = LocalServer(tmp_path_factory.mktemp("own-prefect"), free_port())
    api_url = OwnPrefect(server.ensure())
    register(api_url)
    api_url.database_url = server.environment()["PREFECT_API_DATABASE_CONNECTION_URL"]
    try:
        deploy_to_pool(api_url, PROCESS_POOL, "process", PROCESS_DEPLOYMENT)
        yield api_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
def s3_settings(settings: Settings, s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for S3Store on moto, with a bucket of this test's own."""
    monkeypatch.setenv("REELFLOW_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_ENDPOINT", s3_server)
    monkeypatch.setenv("REELFLOW_STORAGE__BUCKET", f"test-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_ACCESS_KEY", "testing")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_SECRET_KEY", "testing")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture()
def pg_url() -> Iterator[str]:
    import psycopg2

    name = f"reelflow_test_{uuid.uuid4().hex[:10]}"
    admin = "host=127.0.0.1 port=5432 dbname=postgres user=postgres"
    try:
        conn = psycopg2.connect(admin, connect_timeout=5)
    except psycopg2.OperationalError as exc:  # pragma: no cover - CI starts the server
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required: {exc}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        close_ledgers(name)
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture()
def llm_double() -> Iterator[LLMDouble]:
    """An OpenAI-compatible server on 127.0.0.1 (tests/llm_double.py); answers a good script."""
    double = LLMDouble()
    try:
        yield double
    finally:
        double.stop()


LLM_TEST_KEY = "sk-reelflow-test-0123456789abcdef"


@pytest.fixture()
def llm_settings(
    settings: Settings, llm_double: LLMDouble, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings whose script provider is the LLM double, with key ``LLM_TEST_KEY``."""
    monkeypatch.setenv("REELFLOW_SCRIPT__PROVIDER", "llm")
    monkeypatch.setenv("REELFLOW_SCRIPT__LLM_BASE_URL", llm_double.url)
    monkeypatch.setenv("REELFLOW_SCRIPT__LLM_MODEL", "double-model")
    monkeypatch.setenv("REELFLOW_SCRIPT__LLM_API_KEY", LLM_TEST_KEY)
    get_settings.cache_clear()
    return get_settings()


def _delete_automations() -> None:
    from prefect.client.orchestration import get_client

    from infra.prefect.bootstrap import HEARTBEAT_AUTOMATION, PENDING_AUTOMATION

    with get_client(sync_client=True) as client:
        for name in (HEARTBEAT_AUTOMATION, PENDING_AUTOMATION):
            for automation in client.read_automations_by_name(name):
                client.delete_automation(automation.id)


@pytest.fixture()
def clean_automations(prefect_server: str) -> Iterator[None]:
    """No reelflow automation before or after the test: with a tiny heartbeat window they would
    crash the flow runs of the tests that share the session's server."""
    _delete_automations()
    yield
    _delete_automations()
