"""Upload stage: stream every output to the artifact store, then write ``manifest.json`` last.

The manifest is the commit marker: a prefix without one is uncommitted and is deleted on failure or
cancel (and by the sweeper). Transient store errors are retryable: the task retries with
exponential backoff and jitter; re-uploading the same keys is idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import UserCanceled
from infra.jobs.models import JobRequest, JobResult, RenderOutputs
from infra.media.ffprobe import tool_version
from infra.settings import Settings, get_settings
from infra.store.artifacts import ArtifactStore, StoredObject, open_store
from infra.store.ledger import JobStatus
from tasks.stage import job_prefix, ledger, stage

__all__ = ["MANIFEST", "build_manifest", "is_canceled", "upload_outputs", "upload_stage"]

MANIFEST = "manifest.json"
VERSION = "0.1.0"


def build_manifest(
    job_id: str,
    request: JobRequest,
    outputs: RenderOutputs,
    stored: list[StoredObject],
    settings: Settings,
) -> dict[str, object]:
    return {
        "job_id": job_id,
        "created_at": datetime.now(UTC).isoformat(),
        "source": Path(request.source).name,
        "preset": request.preset,
        "language": request.language,
        "duration_s": round(outputs.duration_s, 3),
        "narration_s": round(outputs.narration_s, 3),
        "slide_durations_s": [round(d, 3) for d in outputs.slide_durations_s],
        "objects": [
            {"key": o.key, "size": o.size, "sha256": o.sha256, "content_type": o.content_type}
            for o in stored
        ],
        "tools": {
            "reelflow": VERSION,
            "ffmpeg": tool_version(settings.render.ffmpeg_bin),
            "espeak-ng": tool_version(settings.render.espeak_bin),
        },
    }


def upload_outputs(
    store: ArtifactStore,
    job_id: str,
    request: JobRequest,
    outputs: RenderOutputs,
    settings: Settings,
    canceled: Callable[[], bool] = lambda: False,
) -> JobResult:
    """Put every output under ``jobs/<job_id>/``, the manifest last; return their URLs.

    ``canceled`` is asked before every object and before the manifest: once it says yes,
    nothing more is uploaded (UserCanceled) and the caller's cleanup removes what was.
    """
    prefix = job_prefix(job_id)
    stored = []
    for key, path in sorted(outputs.files.items()):
        if canceled():
            raise UserCanceled(f"job {job_id} was canceled during upload; nothing more is stored")
        stored.append(store.put_file(prefix + key, Path(path)))
    if canceled():
        raise UserCanceled(f"job {job_id} was canceled before its manifest; nothing is committed")
    manifest = build_manifest(job_id, request, outputs, stored, settings)
    store.put_bytes(
        prefix + MANIFEST,
        json.dumps(manifest, indent=2).encode(),
        "application/json",
    )
    main = {
        "video": prefix + "video.mp4",
        "hls": prefix + "hls/master.m3u8",
        "thumbnail": prefix + "thumb.jpg",
        "captions": prefix + "captions.vtt",
        "script": prefix + "script.json",
        "manifest": prefix + MANIFEST,
    }
    return JobResult(
        job_id=job_id,
        status="SUCCEEDED",
        outputs={name: store.url_for(key) for name, key in main.items()},
        manifest_key=prefix + MANIFEST,
        details={"keys": main, "duration_s": outputs.duration_s, "objects": len(stored) + 1},
    )


@task(name="upload", cache_policy=NO_CACHE)
def upload_stage(
    outputs: RenderOutputs, request: JobRequest, job_id: str, progress_id: UUID | None
) -> JobResult:
    with stage(job_id, "upload", progress_id, done=100):
        settings = get_settings()
        store = open_store(settings)
        result = upload_outputs(
            store, job_id, request, outputs, settings, canceled=lambda: is_canceled(job_id)
        )
        if not ledger().mark_succeeded(job_id, {**result.details["keys"], "urls": result.outputs}):
            # The job went terminal meanwhile (a cancel won the race): discard the late result.
            store.delete_prefix(job_prefix(job_id))
            raise UserCanceled(f"job {job_id} was canceled while it finished; outputs discarded")
        return result


def is_canceled(job_id: str) -> bool:
    job = ledger().get(job_id)
    return job is not None and job.status == JobStatus.CANCELED
