"""The ``media-job`` flow: video or audio files become an HLS ladder, an MP4, pictures.

probe -> plan -> encode -> gate -> upload, cleanup in every outcome. The same job context, stage
runner, hooks, publish gate, upload (manifest last, withdrawn on failure) and cleanup as the
document job (``flows/document_job.py``); only the stages before the gate are the media job's own.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from flows.hooks import on_cancelled, on_completed, on_crashed, on_failed
from flows.job import run_job
from infra.jobs.models import JobKind, JobRequest, JobResult
from infra.jobs.stages import Stage
from infra.media.expectations import media_expectations
from tasks.gate import gate_stage
from tasks.media import encode_stage, media_probe_stage, plan_stage
from tasks.stage import JobContext, run_stage
from tasks.upload import upload_stage

__all__ = ["media_job"]


@flow(
    name="media-job",
    log_prints=False,
    on_completion=[on_completed],
    on_failure=[on_failed],
    on_crashed=[on_crashed],
    on_cancellation=[on_cancelled],
)
def media_job(request: JobRequest) -> JobResult | State:
    """Turn one media file (or a timeline of several) into HLS, an MP4 and pictures in the store."""
    return run_job(request, JobKind.MEDIA, "reelflow media job", _stages)


def _stages(ctx: JobContext, request: JobRequest) -> JobResult:
    inputs = run_stage(ctx, Stage.PROBE, media_probe_stage, ctx, request)
    plan = run_stage(ctx, Stage.PLAN, plan_stage, ctx, inputs, request)
    outputs = run_stage(ctx, Stage.ENCODE, encode_stage, ctx, inputs, plan)
    expect = media_expectations(plan, subtitles=len(inputs.subtitles))
    outputs = run_stage(ctx, Stage.GATE, gate_stage, ctx, outputs, expect)
    return run_stage(ctx, Stage.UPLOAD, upload_stage, ctx, outputs, request, inputs.sources[0].name)
