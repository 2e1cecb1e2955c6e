"""The gateway app on the embedded defaults (SQLite ledger, local store), served by a real uvicorn
in a thread: what needs no Prefect: unexpected errors, anonymous use, admission, CORS, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from infra.api import create_app
from infra.settings import Settings, get_settings
from infra.store.api_keys import ApiKeyStore
from infra.store.ledger import JobLedger
from tests.support.gateway import serve_app

pytestmark = pytest.mark.api


@pytest.fixture()
def ledger(settings: Settings) -> Iterator[JobLedger]:
    found = JobLedger.from_settings(settings.ledger)
    yield found
    found.dispose()


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


def test_unexpected_error_is_internal_error_without_its_detail(settings, ledger):
    app = create_app(settings, ledger)

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2 in a stack frame")

    with serve_app(app) as url:
        answer = httpx.get(f"{url}/v1/boom", timeout=30)
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["code"] == "internal_error" and not error["retryable"]
    assert "hunter2" not in answer.text and "ref " in error["message"]


def test_anonymous_submissions_are_off_by_default_and_limited_when_on(monkeypatch, ledger):
    with serve_app(create_app(get_settings(), ledger)) as url:
        assert httpx.post(f"{url}/v1/jobs", json={}, timeout=30).status_code == 401
    settings = _settings(
        monkeypatch, REELFLOW_API__ANONYMOUS="true", REELFLOW_API__ANONYMOUS_SUBMISSIONS="2"
    )
    with serve_app(create_app(settings, ledger)) as url:
        answers = [httpx.post(f"{url}/v1/jobs", json={}, timeout=30) for _ in range(3)]
        listed = httpx.get(f"{url}/v1/jobs", timeout=30)
    # The first two were admitted (their empty body is then refused), the third is not.
    assert [a.status_code for a in answers] == [422, 422, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert int(answers[2].headers["retry-after"]) > 0
    assert listed.status_code == 200 and listed.json() == {"jobs": [], "next_cursor": None}


def test_a_part_name_outside_latin1_is_refused_not_a_crash(monkeypatch, ledger):
    # Found by schemathesis: python-multipart raises UnicodeEncodeError on such a header.
    settings = _settings(monkeypatch, REELFLOW_API__ANONYMOUS="true")
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="𭊙"\r\n\r\nx\r\n--{boundary}--\r\n'
    ).encode()
    with serve_app(create_app(settings, ledger)) as url:
        answer = httpx.post(
            f"{url}/v1/jobs",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            timeout=30,
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "input_invalid"


def test_a_full_queue_is_overloaded_with_retry_after(monkeypatch, ledger):
    settings = _settings(
        monkeypatch, REELFLOW_API__MAX_QUEUE_DEPTH="1", REELFLOW_API__OVERLOAD_RETRY_AFTER_S="7"
    )
    ledger.claim_job("already-queued", flow_run_id=None, client="someone-else")
    _, key = ApiKeyStore(ledger).create("busy", rate_per_min=60, max_active=5)
    with serve_app(create_app(settings, ledger)) as url:
        answer = httpx.post(
            f"{url}/v1/jobs",
            json={"source": "s3://reelflow/inbox/x/a.pdf"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
    assert answer.status_code == 503
    assert answer.json()["error"] == {
        "code": "overloaded",
        "message": answer.json()["error"]["message"],
        "retryable": True,
    }
    assert answer.headers["retry-after"] == "7"


def test_ip_limit_and_cors(monkeypatch, ledger):
    settings = _settings(
        monkeypatch,
        REELFLOW_API__IP_RATE_PER_MIN="3",
        REELFLOW_API__CORS_ORIGINS="https://app.example",
    )
    with serve_app(create_app(settings, ledger)) as url:
        answers = [httpx.get(f"{url}/v1/jobs", timeout=30) for _ in range(4)]
        health = httpx.get(f"{url}/healthz", timeout=30)  # never limited
        preflight = httpx.options(
            f"{url}/v1/jobs",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
            timeout=30,
        )
        other = httpx.options(
            f"{url}/v1/jobs",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            timeout=30,
        )
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


def test_openapi_documents_every_route_with_the_error_body(settings, ledger):
    with serve_app(create_app(settings, ledger)) as url:
        schema = httpx.get(f"{url}/openapi.json", timeout=30).json()
        docs = httpx.get(f"{url}/docs", timeout=30)
        metrics = httpx.get(f"{url}/metrics", timeout=30)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert set(schema["paths"]) == {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/hls/{path}",
        "/v1/jobs/{job_id}/deliveries",
        "/v1/hooks/s3",
        "/v1/hooks/generic/{name}",
        "/healthz",
        "/readyz",
    }
    body = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                default = operation["responses"]["default"]["content"]["application/json"]
                assert default["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert metrics.status_code == 200
    assert 'reelflow_http_requests_total{method="GET",route="/openapi.json"' in metrics.text


def test_the_gateway_never_imports_a_flow_or_a_task():
    """Layer rule: only cli/ may import flows/ (and tasks/); the gateway submits through
    deployments. Checked in a fresh interpreter, after building the app."""
    import subprocess
    import sys

    from tests.support.tools import ROOT

    code = (
        "import sys, tempfile, os\n"
        "os.environ['REELFLOW_HOME'] = tempfile.mkdtemp()\n"
        "from infra.settings import get_settings\n"
        "from infra.store.ledger import JobLedger\n"
        "from infra.api import create_app\n"
        "s = get_settings()\n"
        "create_app(s, JobLedger.from_settings(s.ledger))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flows', 'tasks')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    sources = (ROOT / "infra").rglob("*.py")
    offenders = [
        str(path)
        for path in sources
        if any(
            line.lstrip().startswith(("from flows", "import flows", "from tasks", "import tasks"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []
