"""``reelflow cancel`` during each stage, through a real Prefect server and a real process worker.

Each stage is made to last long enough to be caught in the act by a real slow component, never
by a hook in the code: probe reads a vector-heavy PDF (pypdf walks every drawing operator),
script waits on an OpenAI-compatible LLM that is still "thinking", render is a 20-slide hd
encode, and upload goes to moto's S3 server through a slow link (the cancel comes once an object
of the job is on the wire). After the cancel: CANCELED in the ledger, the run Cancelled, no
ffmpeg, no work directory, no object under the job's prefix, and a second cancel changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tests.support.documents import SAMPLE_MARKDOWN, make_vector_heavy_pdf
from tests.support.jobs import cancel
from tests.support.ledgers import ledger
from tests.support.llm_double import LLMDouble, script_reply
from tests.support.slow_link import SlowLink
from tests.support.tools import LONG_DOC, encoder_of, process_worker, wait_for_run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.prefect, pytest.mark.media, pytest.mark.s3, pytest.mark.timeout(240)]
STAGES = ["probe", "script", "render", "upload"]


def _in_stage(job_id: str, stage: str) -> Callable[[], bool]:
    def check() -> bool:
        job = ledger().get(job_id)
        return job is not None and job.status == "RUNNING" and job.stage == stage

    return check


@pytest.mark.parametrize("stage", STAGES)
def test_cancel_during_stage_leaves_nothing(
    stage: str,
    process_pool: str,
    s3_settings: Settings,
    llm_double: LLMDouble,
    tmp_path: Path,
    record_property,
):
    from prefect.deployments import run_deployment

    settings = s3_settings
    env: dict[str, str] = {}
    preset = "tiny"
    if stage == "probe":
        source = make_vector_heavy_pdf(tmp_path / "drawings.pdf", pages=12, shapes=20_000)
    else:
        source = tmp_path / "doc.md"
        source.write_text(LONG_DOC if stage == "render" else SAMPLE_MARKDOWN)
    if stage == "render":
        preset = "hd"
    if stage == "script":
        llm_double.respond(script_reply(delay_s=60))  # the model "thinks" for a minute
        env = {
            "REELFLOW_SCRIPT__PROVIDER": "llm",
            "REELFLOW_SCRIPT__LLM_BASE_URL": llm_double.url,
            "REELFLOW_SCRIPT__LLM_API_KEY": "sk-test-cancel",
        }
    link = SlowLink(settings.storage.s3_endpoint, latency_s=0.5)
    if stage == "upload":
        env["REELFLOW_STORAGE__S3_ENDPOINT"] = link.endpoint

    try:
        with process_worker(process_pool, settings.home, **env):
            run = run_deployment(
                "video-job/video-job-process",
                parameters={"request": {"source": str(source), "preset": preset}},
                timeout=0,
            )
            job_id = str(run.id)
            encoder = None
            on_the_wire: list[str] = []
            if stage == "render":
                encoder = wait_until(lambda: encoder_of(job_id), 90, "ffmpeg")
            elif stage == "script":
                wait_until(lambda: llm_double.calls >= 1, 90, "the LLM request")
            elif stage == "upload":
                wait_until(_in_stage(job_id, "upload"), 90, "the upload stage")
                # Not the bucket check: an object of the job sent and not yet at the server (the
                # link holds every request 0.5 s), so the delete-twice path has work to do.
                put = f"PUT /{settings.storage.bucket}/jobs/{job_id}/"
                on_the_wire = wait_until(
                    lambda: [r for r in link.requests if r.startswith(put)],
                    90,
                    "an object of the job on the wire",
                    poll=0.01,
                )
            else:
                wait_until(_in_stage(job_id, stage), 90, f"the {stage} stage")

            requested = time.monotonic()
            assert cancel(job_id)
            if stage == "upload":
                assert on_the_wire, "no object was in flight at the cancel"
                record_property("objects_sent_before_cancel", len(on_the_wire))
            job = ledger().get(job_id)
            assert (job.status, job.stage) == ("CANCELED", stage)  # caught in the act, at once
            if stage == "render":  # ffmpeg stops with the job
                assert encoder is not None
                encoder.wait(timeout=30)
                record_property("cancel_to_ffmpeg_dead_s", round(time.monotonic() - requested, 3))
            state = wait_for_run(run.id, 60)
            record_property("cancel_to_cancelled_s", round(time.monotonic() - requested, 3))
    finally:
        link.stop()
    assert state.name == "Cancelled", state

    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("CANCELED", "user_canceled")
    assert not (get_settings().work_dir_root / job_id).exists()
    assert open_store(settings).list_keys(f"jobs/{job_id}/") == []
    assert encoder_of(job_id) is None
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if job_id in " ".join(p.info["cmdline"] or [])
    ]
    assert not cancel(job_id)  # idempotent: already terminal
    assert ledger().get(job_id).status == "CANCELED"
