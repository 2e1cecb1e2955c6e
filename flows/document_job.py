"""The ``video-job`` flow: a document becomes a narrated video.

probe -> script -> render -> gate -> upload, cleanup in every outcome. The flow only decides
order: each stage is a task in ``tasks/`` run through the typed stage runner. It is the entry
point of a run (a worker's process or container, or ``reelflow run`` in-process), so it builds
what the stages share: the settings, the ledger, and the job's context (claim, guard, heartbeat).
"""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from flows.hooks import on_cancelled, on_completed, on_crashed, on_failed
from flows.job import run_job
from infra.jobs.models import JobKind, JobRequest, JobResult
from infra.jobs.stages import Stage
from infra.media.expectations import document_expectations
from infra.media.presets import PRESETS
from tasks.gate import gate_stage
from tasks.probe import probe_stage
from tasks.render.document import render_stage
from tasks.script import script_stage
from tasks.stage import JobContext, run_stage
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
def document_job(request: JobRequest) -> JobResult | State:
    """Turn one document into an MP4, an HLS ladder, a thumbnail and captions in the store."""
    return run_job(request, JobKind.DOCUMENT, "reelflow document job", _stages)


def _stages(ctx: JobContext, request: JobRequest) -> JobResult:
    settings = ctx.settings
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
    return run_stage(ctx, Stage.UPLOAD, upload_stage, ctx, outputs, request, doc.name)
