"""The LLM script provider inside the video-job flow: 429/5xx are retried, other errors are not.

A real Prefect server runs the flow; the provider is the OpenAI-compatible double on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.document_job import document_job
from infra.jobs.models import JobRequest
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.ledgers import ledger
from tests.support.llm_double import GOOD_SLIDES, LLMDouble, Reply
from tests.support.tools import stage_run_count

pytestmark = pytest.mark.prefect

RETRIES = 2


@pytest.fixture()
def fast_retries(llm_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REELFLOW_STAGES__RETRIES", str(RETRIES))
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_BACKOFF_S", "0.05")
    monkeypatch.setenv("REELFLOW_STAGES__RETRY_JITTER", "0")
    monkeypatch.setenv("REELFLOW_SCRIPT__MIN_WORDS", "10")  # the double's script is short
    get_settings.cache_clear()
    return get_settings()


def _run_job(tmp_path: Path):
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    return document_job(JobRequest(source=str(source), preset="tiny"), return_state=True)


@pytest.mark.media
def test_rate_limited_once_then_the_job_succeeds(
    prefect_server: str, fast_retries: Settings, llm_double: LLMDouble, tmp_path: Path
):
    llm_double.respond(Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}))
    state = _run_job(tmp_path)
    assert state.is_completed(), state.message
    assert llm_double.calls == 2
    assert stage_run_count(state.state_details.flow_run_id, "script") == 2
    job_id = state.result().job_id
    assert ledger().get(job_id).status == "SUCCEEDED"
    delivered = json.loads(open_store(fast_retries).get_bytes(f"jobs/{job_id}/script.json"))
    assert [s["title"] for s in delivered["slides"]] == [s["title"] for s in GOOD_SLIDES]


@pytest.mark.parametrize(
    ("reply", "code", "calls"),
    [
        (Reply(503, {"error": {"message": "overloaded"}}), "llm_unavailable", RETRIES + 1),
        (Reply(400, {"error": {"message": "unknown parameter"}}), "config_error", 1),
    ],
    ids=["503-always-retried-then-failed", "400-failed-at-once"],
)
def test_llm_failure_fails_the_job_with_its_code(
    prefect_server: str,
    fast_retries: Settings,
    llm_double: LLMDouble,
    tmp_path: Path,
    reply: Reply,
    code: str,
    calls: int,
):
    llm_double.default = reply
    state = _run_job(tmp_path)
    assert state.is_failed() and f"[{code}]" in state.message
    assert llm_double.calls == calls
    assert stage_run_count(state.state_details.flow_run_id, "script") == calls
    job = ledger().list_jobs()[0]
    assert (job.status, job.error_code, job.stage) == ("FAILED", code, "script")
    assert open_store(fast_retries).list_keys("jobs/") == []
    assert not (fast_retries.work_dir_root / job.id).exists()
