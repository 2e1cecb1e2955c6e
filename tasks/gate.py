"""Publish gate stage: verify every output of a job before its manifest can exist.

Both flows run it between their render/encode stage and upload. It checks the output folder the
stage wrote (``infra.media.gate.run_gate`` against the job's expectations) and adds the gate's
report to the manifest. A failed check raises ``output_invalid`` (never retried: the same files
would fail again) naming the check and the measured value; the job then fails before upload, so
nothing is committed.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import OutputInvalid
from infra.jobs.models import RenderOutputs
from infra.media.gate import GateExpectations, run_gate
from tasks.render.document import media_deadlines
from tasks.stage import JobContext

__all__ = ["gate_stage", "output_folder"]


def output_folder(outputs: RenderOutputs) -> Path:
    """The folder the stage wrote: every file's path is ``<folder>/<key>``."""
    for key, path in outputs.files.items():
        if path.endswith("/" + key):
            return Path(path[: -len(key) - 1])
    raise OutputInvalid("publish gate check 'files' failed: the stage declared no output files")


@task(name="gate", cache_policy=NO_CACHE)
def gate_stage(ctx: JobContext, outputs: RenderOutputs, expect: GateExpectations) -> RenderOutputs:
    """``outputs`` with the gate's report for the manifest; OutputInvalid when a check fails."""
    render = ctx.settings.render
    report = run_gate(
        output_folder(outputs),
        expect,
        ffmpeg=render.ffmpeg_bin,
        ffprobe=render.ffprobe_bin,
        deadlines=media_deadlines(ctx.settings),
        guard=ctx.guard,
    )
    return outputs.model_copy(
        update={"manifest": {**outputs.manifest, "gate": report.model_dump(mode="json")}}
    )
