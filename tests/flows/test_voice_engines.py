"""The voice engine chosen per job, through the video-job flow (real Prefect server, real ffmpeg):
Piper speaks a job that asks for it, the remote provider (an HTTP double answering real audio on
127.0.0.1) speaks another, and a remote error fails the job with its code and nothing stored."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.document_job import document_job
from infra.jobs.models import JobRequest
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.ledgers import ledger
from tests.support.speech_double import SpeechDouble, SpeechReply

pytestmark = [pytest.mark.prefect, pytest.mark.media]


@pytest.fixture()
def speech(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[SpeechDouble]:
    double = SpeechDouble()
    monkeypatch.setenv("REELFLOW_TTS__REMOTE_BASE_URL", double.url)
    monkeypatch.setenv("REELFLOW_TTS__REMOTE_API_KEY", "sk-remote-speech-test")
    monkeypatch.setenv("REELFLOW_TTS__REMOTE_BACKOFF_S", "0.01")
    monkeypatch.setenv("REELFLOW_NET__ALLOW_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    try:
        yield double
    finally:
        double.stop()


def _run(tmp_path: Path, **fields: object):
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    request = JobRequest(source=str(source), preset="tiny", **fields)  # type: ignore[arg-type]
    return document_job(request, return_state=True)


def _mean_volume_db(store_path: bytes, tmp_path: Path) -> float:
    video = tmp_path / "video.mp4"
    video.write_bytes(store_path)
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(video), "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stderr
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", out).group(1))


def test_piper_chosen_per_job_speaks_it(prefect_server: str, settings: Settings, tmp_path: Path):
    state = _run(tmp_path, engine="piper")
    assert state.is_completed(), state.message
    job_id = state.result().job_id
    store = open_store(settings)
    script = json.loads(store.get_bytes(f"jobs/{job_id}/script.json"))
    assert (script["voice_engine"], script["voice"]) == ("piper", "en_US-joe-medium")
    assert abs(script["estimated_duration_s"] - sum(script["slide_durations_s"])) <= 0.15 * sum(
        script["slide_durations_s"]
    )
    assert _mean_volume_db(store.get_bytes(f"jobs/{job_id}/video.mp4"), tmp_path) > -40.0


def test_remote_voice_per_job_and_its_errors(
    prefect_server: str, settings: Settings, speech: SpeechDouble, tmp_path: Path
):
    state = _run(tmp_path, engine="remote", voice="nova")
    assert state.is_completed(), state.message
    job_id = state.result().job_id
    store = open_store(get_settings())
    script = json.loads(store.get_bytes(f"jobs/{job_id}/script.json"))
    assert (script["voice_engine"], script["voice"]) == ("remote", "nova")
    assert speech.calls == len(script["slides"])
    assert {r["voice"] for r in speech.requests} == {"nova"}
    assert _mean_volume_db(store.get_bytes(f"jobs/{job_id}/video.mp4"), tmp_path) > -40.0

    speech.respond(*[SpeechReply(401, b"bad key")] * 20)
    failed = _run(tmp_path, engine="remote")
    assert failed.is_failed() and "[config_error]" in failed.message
    job = next(j for j in ledger().list_jobs() if j.id != job_id)
    assert (job.status, job.error_code, job.stage) == ("FAILED", "config_error", "render")
    assert store.list_keys(f"jobs/{job.id}/") == []


def test_the_prefect_form_offers_the_engines_as_a_select():
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(document_job).model_dump_for_openapi()
    engine = schema["definitions"]["JobRequest"]["properties"]["engine"]
    choices = [option.get("enum") for option in engine.get("anyOf", [engine])]
    assert ["espeak", "piper", "remote"] in choices
