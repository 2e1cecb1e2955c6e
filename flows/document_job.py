"""The ``video-job`` flow: probe -> script -> render -> upload, cleanup in every outcome.

The flow only decides order and passes results along; each stage is a task in ``tasks/``. Failures
are ReelflowErrors whose text starts with ``[code]``, so the Prefect state message carries the code
and the failure hook copies it into the ledger.
"""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from prefect import flow
from prefect.artifacts import create_progress_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.hooks import on_cancelled, on_completed, on_crashed, on_failed
from infra.jobs.models import JobRequest, JobResult
from infra.settings import get_settings
from tasks.cleanup import cleanup_stage
from tasks.probe import probe_stage
from tasks.render.document import render_stage
from tasks.script.extractive import script_stage
from tasks.stage import configured, job_id_for, stage_timeout
from tasks.upload import upload_stage

__all__ = ["document_job"]


@flow(
    name="video-job",
    log_prints=False,
    on_completion=[on_completed],
    on_failure=[on_failed],
    on_crashed=[on_crashed],
    on_cancellation=[on_cancelled],
)
def document_job(request: JobRequest) -> JobResult:
    """Turn one document into an MP4, an HLS ladder, a thumbnail and captions in the store."""
    job_id = job_id_for(flow_run.id, request)
    settings = get_settings()
    progress_id = cast(
        UUID,
        create_progress_artifact(
            progress=0.0, description=f"reelflow job {job_id}: probe, script, render, upload"
        ),
    )

    def run(name: str, stage_task: Any, *args: Any) -> Any:
        """Call a stage with its settings; a stage past its timeout fails with its code."""
        try:
            return configured(stage_task, name, settings)(*args)
        except TimeoutError as exc:
            raise stage_timeout(name, settings) from exc

    try:
        doc = run("probe", probe_stage, request, job_id, progress_id)
        script = run("script", script_stage, doc, request, job_id, progress_id)
        outputs = run("render", render_stage, script, request, job_id, progress_id)
        result: JobResult = run("upload", upload_stage, outputs, request, job_id, progress_id)
    finally:
        run("cleanup", cleanup_stage, job_id)
    create_table_artifact(
        table=[{"output": name, "url": url} for name, url in result.outputs.items()],
        description=f"Outputs of reelflow job {job_id}",
    )
    return result
