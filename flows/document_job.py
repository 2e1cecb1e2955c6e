"""The ``video-job`` flow: a document becomes a narrated video.

probe -> script -> render -> gate -> upload, cleanup in every outcome. The flow only decides
order: each stage is a task in ``tasks/`` run through the typed stage runner. It is the entry
point of a run (a worker's process or container, or ``reelflow run`` in-process), so it builds
what the stages share: the settings, the ledger, and the job's context (claim, guard, heartbeat).
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from flows.hooks import on_cancelled, on_completed, on_crashed, on_failed
from infra.errors import ReelflowError, UserCanceled
from infra.jobs.models import JobKind, JobRequest, JobResult
from infra.jobs.stages import Stage
from infra.jobs.validation import validate_request
from infra.media.expectations import document_expectations
from infra.media.presets import PRESETS
from infra.settings import get_settings
from infra.store.ledger import JobLedger
from tasks.cleanup import cleanup_stage
from tasks.gate import gate_stage
from tasks.probe import probe_stage
from tasks.render.document import render_stage
from tasks.script import script_stage
from tasks.stage import failed_state, job_scope, run_stage
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
    settings = get_settings()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        with job_scope(
            request,
            kind=JobKind.DOCUMENT,
            flow_run_id=flow_run.id,
            settings=settings,
            ledger=ledger,
            description="reelflow document job",
        ) as ctx:
            request = validate_request(request, settings)
            try:
                doc = run_stage(ctx, Stage.PROBE, probe_stage, ctx, request)
                script = run_stage(ctx, Stage.SCRIPT, script_stage, ctx, doc, request)
                outputs = run_stage(ctx, Stage.RENDER, render_stage, ctx, script, request)
                expect = document_expectations(
                    PRESETS[request.preset or settings.render.default_preset],
                    narration_s=outputs.narration_s,
                    fps=settings.render.slide_fps,
                    segment_s=settings.render.hls_segment_s,
                )
                outputs = run_stage(ctx, Stage.GATE, gate_stage, ctx, outputs, expect)
                result = run_stage(ctx, Stage.UPLOAD, upload_stage, ctx, outputs, request, doc.name)
            finally:
                run_stage(ctx, Stage.CLEANUP, cleanup_stage, ctx)
    except UserCanceled:
        raise
    except ReelflowError as exc:
        return failed_state(exc)
    finally:
        ledger.dispose()
    create_table_artifact(
        table=[{"output": name, "key": key} for name, key in result.outputs.items()],
        description=f"Outputs of reelflow job {result.job_id} (keys in the artifact store)",
    )
    return result
