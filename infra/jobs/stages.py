"""Stage names, progress bands and what a stage past its timeout fails with, stated once.

Both flows (``video-job`` for documents, ``media-job``) run their stages through the typed stage
runner in ``tasks/stage.py``, which reads this module: the ledger's ``stage`` column, the
progress bar and the error code of a stage timeout all come from here.
"""

from __future__ import annotations

import enum

from infra.errors import (
    FFmpegTimeout,
    InputUnreadable,
    InternalError,
    LLMUnavailable,
    OutputInvalid,
    ReelflowError,
    ResourceLimitExceeded,
    ScriptInvalid,
    StorageUnavailable,
    TTSFailed,
)
from infra.jobs.models import JobKind

__all__ = [
    "ACTIVITY_TIMEOUT_ERRORS",
    "PRIORITY_QUEUES",
    "PROGRESS_BANDS",
    "STAGE_TIMEOUT_ERRORS",
    "JobKind",
    "Stage",
]


class Stage(enum.StrEnum):
    PROBE = "probe"
    SCRIPT = "script"
    RENDER = "render"
    PLAN = "plan"
    ENCODE = "encode"
    GATE = "gate"  # the publish gate: verify the outputs before anything is committed
    UPLOAD = "upload"
    CLEANUP = "cleanup"


# Where each stage moves the job's progress bar (percent at its start, at its end), per job kind.
PROGRESS_BANDS: dict[JobKind, dict[Stage, tuple[float, float]]] = {
    JobKind.DOCUMENT: {
        Stage.PROBE: (0.0, 10.0),
        Stage.SCRIPT: (10.0, 20.0),
        Stage.RENDER: (20.0, 82.0),
        Stage.GATE: (82.0, 85.0),
        Stage.UPLOAD: (85.0, 100.0),
    },
    JobKind.MEDIA: {
        Stage.PROBE: (0.0, 5.0),
        Stage.PLAN: (5.0, 10.0),
        Stage.ENCODE: (10.0, 80.0),
        Stage.GATE: (80.0, 85.0),
        Stage.UPLOAD: (85.0, 100.0),
    },
}

# A stage past its timeout fails with the error of what it was doing when it was stopped (the
# last external process it started, or the activity it declared), else with its stage's error.
ACTIVITY_TIMEOUT_ERRORS: dict[str, type[ReelflowError]] = {
    "ffmpeg": FFmpegTimeout,
    "ffprobe": FFmpegTimeout,
    "espeak-ng": TTSFailed,
    "tts": TTSFailed,
    "llm": LLMUnavailable,
    "upload": StorageUnavailable,
    "download": StorageUnavailable,
}
STAGE_TIMEOUT_ERRORS: dict[Stage, type[ReelflowError]] = {
    Stage.PROBE: InputUnreadable,
    Stage.SCRIPT: ScriptInvalid,
    Stage.RENDER: ResourceLimitExceeded,
    Stage.PLAN: InputUnreadable,
    Stage.ENCODE: ResourceLimitExceeded,
    Stage.GATE: OutputInvalid,
    Stage.UPLOAD: StorageUnavailable,
    Stage.CLEANUP: InternalError,
}

# A job's priority -> the work queue of its pool that carries it. Prefect hands out runs from the
# queue with the smallest priority number first ("high" before "default" before "low");
# `reelflow bootstrap` creates the queues in every job pool.
PRIORITY_QUEUES: dict[str, tuple[str, int]] = {
    "high": ("high", 1),
    "normal": ("default", 2),
    "low": ("low", 3),
}
