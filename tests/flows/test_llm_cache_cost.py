"""The LLM script path through the video-job flow (real Prefect server, the HTTP double as the
provider): a second identical job makes no LLM call, each job's usage and cost reach the ledger,
the manifest, ``reelflow show`` and the job API's status document, and a spent budget refuses a
job with ``budget_exceeded`` before any call."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.document_job import document_job
from infra.api import create_app
from infra.jobs.models import JobRequest
from infra.settings import Settings, get_settings
from infra.store.api_keys import ApiKeyStore
from infra.store.artifacts import open_store
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.gateway import serve_app
from tests.support.ledgers import ledger
from tests.support.llm_double import GOOD_SLIDES, LLMDouble, Reply, chat_completion

pytestmark = [pytest.mark.prefect, pytest.mark.media]

PRICES = {"double-model": {"prompt_per_mtok": 3.0, "completion_per_mtok": 15.0}}
COST = (2000 * 3.0 + 500 * 15.0) / 1e6


@pytest.fixture()
def priced(llm_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REELFLOW_SCRIPT__LLM_PRICES", json.dumps(PRICES))
    get_settings.cache_clear()
    return get_settings()


def _billed() -> Reply:
    body = chat_completion(json.dumps({"slides": GOOD_SLIDES}))
    body["usage"] = {"prompt_tokens": 2000, "completion_tokens": 500, "total_tokens": 2500}
    return Reply(body=body)


def _run(source: Path, client: str = "acme"):
    request = JobRequest(source=str(source), preset="tiny", client=client)
    return document_job(request, return_state=True)


def test_second_identical_job_hits_the_cache_and_costs_are_shown(
    prefect_server: str, priced: Settings, llm_double: LLMDouble, tmp_path: Path
):
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    llm_double.respond(_billed())
    first = _run(source)
    assert first.is_completed(), first.message
    second = _run(source)
    assert second.is_completed(), second.message
    assert llm_double.calls == 1  # the second job was served from the cache

    first_id, second_id = first.result().job_id, second.result().job_id
    usage = ledger().get(first_id).usage
    assert usage["script_cache"] == "miss" and usage["llm_calls"] == 1
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (2000, 500)
    assert usage["cost_usd"] == pytest.approx(COST)
    cached = ledger().get(second_id).usage
    assert (cached["script_cache"], cached["llm_calls"], cached["cost_usd"]) == ("hit", 0, 0.0)

    store = open_store(priced)
    manifest = json.loads(store.get_bytes(f"jobs/{first_id}/manifest.json"))
    assert manifest["usage"]["cost_usd"] == pytest.approx(COST)
    assert manifest["usage"]["total_tokens"] == 2500
    script = json.loads(store.get_bytes(f"jobs/{second_id}/script.json"))
    assert [s["title"] for s in script["slides"]] == [s["title"] for s in GOOD_SLIDES]

    shown = CliRunner().invoke(app, ["show", first_id])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["usage"]["cost_usd"] == pytest.approx(COST)

    jobs = ledger()
    _, key = ApiKeyStore(jobs).create("acme", rate_per_min=600, max_active=5)
    with serve_app(create_app(priced, jobs)) as url:
        answer = httpx.get(
            f"{url}/v1/jobs/{first_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["usage"]["cost_usd"] == pytest.approx(COST)
    assert answer.json()["usage"]["llm_model"] == "double-model"


def test_a_spent_budget_fails_the_job_before_any_llm_call(
    prefect_server: str,
    priced: Settings,
    llm_double: LLMDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("REELFLOW_SCRIPT__BUDGET_USD", "0.02")
    get_settings.cache_clear()
    jobs = ledger()
    jobs.claim_job("earlier", flow_run_id=None, client="acme")
    jobs.record_usage("earlier", {"cost_usd": 0.0199})
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    state = _run(source)
    assert state.is_failed() and "[budget_exceeded]" in state.message
    assert llm_double.calls == 0
    job = next(j for j in jobs.list_jobs() if j.id != "earlier")
    assert (job.status, job.error_code, job.stage) == ("FAILED", "budget_exceeded", "script")
    assert open_store(priced).list_keys("jobs/") == []
