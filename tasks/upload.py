"""Upload stage: stream every output to the artifact store, then write ``manifest.json`` last.

The manifest is the commit marker: a prefix without one is uncommitted and is deleted on failure or
cancel (and by the sweeper). The commit is the true last step: everything that can fail (tool
versions, the manifest itself) happens before the manifest is written, and if recording the
success in the ledger fails afterwards, the manifest is withdrawn first and then the objects, so a
FAILED job never leaves a committed prefix. The ledger keeps keys only; URLs are presigned when a
client reads the job (a presigned URL is a bearer token).

Transient store errors are retryable: the task retries with exponential backoff and jitter;
re-uploading the same keys is idempotent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import UserCanceled
from infra.jobs.models import JobRequest, JobResult, RenderOutputs
from infra.media.ffprobe import tool_version
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore, StoredObject
from infra.store.layout import MANIFEST, job_prefix
from infra.store.ledger import JobStatus
from infra.store.removal import delete_job_objects
from tasks.stage import JobContext

__all__ = ["VERSION", "build_manifest", "upload_outputs", "upload_stage", "withdraw"]

log = logging.getLogger("reelflow.upload")
VERSION = "0.2.0"


def build_manifest(
    job_id: str,
    request: JobRequest,
    outputs: RenderOutputs,
    stored: list[StoredObject],
    settings: Settings,
    source_name: str,
    usage: dict[str, object] | None = None,
) -> dict[str, object]:
    prefix = job_prefix(job_id)
    manifest: dict[str, object] = {
        "job_id": job_id,
        "created_at": datetime.now(UTC).isoformat(),
        "source": source_name,
        "preset": request.preset,
        "language": request.language,
        "duration_s": round(outputs.duration_s, 3),
        "narration_s": round(outputs.narration_s, 3),
        "slide_durations_s": [round(d, 3) for d in outputs.slide_durations_s],
        "outputs": {name: prefix + key for name, key in outputs.outputs.items()},
        "objects": [
            {"key": o.key, "size": o.size, "sha256": o.sha256, "content_type": o.content_type}
            for o in stored
        ],
        "tools": {
            "reelflow": VERSION,
            "ffmpeg": tool_version(settings.render.ffmpeg_bin),
            "espeak-ng": tool_version(settings.render.espeak_bin),
        },
        **outputs.manifest,
    }
    if usage:
        manifest["usage"] = usage  # LLM tokens and cost (tasks/script/llm.py)
    return manifest


def upload_outputs(
    store: ArtifactStore,
    job_id: str,
    request: JobRequest,
    outputs: RenderOutputs,
    settings: Settings,
    source_name: str,
    canceled: Callable[[], bool] = lambda: False,
    usage: dict[str, object] | None = None,
) -> JobResult:
    """Put every declared output under ``jobs/<job_id>/``, the manifest last.

    ``canceled`` is asked before every object and before the manifest: once it says yes,
    nothing more is uploaded (UserCanceled) and the caller's cleanup removes what was.
    """
    prefix = job_prefix(job_id)
    stored = []
    for key, path in sorted(outputs.files.items()):
        if canceled():
            raise UserCanceled(f"job {job_id} was canceled during upload; nothing more is stored")
        stored.append(store.put_file(prefix + key, Path(path)))
    manifest = json.dumps(
        build_manifest(job_id, request, outputs, stored, settings, source_name, usage), indent=2
    ).encode()
    if canceled():
        raise UserCanceled(f"job {job_id} was canceled before its manifest; nothing is committed")
    store.put_bytes(prefix + MANIFEST, manifest, "application/json")  # the commit
    keys = {name: prefix + key for name, key in outputs.outputs.items()}
    keys["manifest"] = prefix + MANIFEST
    return JobResult(
        job_id=job_id,
        status=JobStatus.SUCCEEDED,
        outputs=keys,
        manifest_key=prefix + MANIFEST,
        details={"duration_s": outputs.duration_s, "objects": len(stored) + 1},
    )


def withdraw(store: ArtifactStore, job_id: str) -> None:
    """Un-commit a job: its manifest first, then every object under its prefix."""
    store.delete_key(job_prefix(job_id) + MANIFEST)
    delete_job_objects(store, job_id)


@task(name="upload", cache_policy=NO_CACHE)
def upload_stage(
    ctx: JobContext, outputs: RenderOutputs, request: JobRequest, source_name: str
) -> JobResult:
    store = ctx.store()

    def canceled() -> bool:
        job = ctx.ledger.get(ctx.job_id)
        return job is not None and job.status == JobStatus.CANCELED

    job = ctx.ledger.get(ctx.job_id)
    with ctx.doing("upload"):
        result = upload_outputs(
            store,
            ctx.job_id,
            request,
            outputs,
            ctx.settings,
            source_name,
            canceled,
            usage=job.usage if job is not None else None,
        )
    try:
        recorded = ctx.ledger.mark_succeeded(
            ctx.job_id, result.outputs, output_duration_s=outputs.duration_s
        )
    except BaseException:
        log.error("the ledger did not record the success: withdrawing the commit")
        withdraw(store, ctx.job_id)
        raise
    if not recorded:
        # The job went terminal meanwhile (a cancel won the race): discard the late result.
        withdraw(store, ctx.job_id)
        raise UserCanceled(f"job {ctx.job_id} was canceled while it finished; outputs discarded")
    return result
