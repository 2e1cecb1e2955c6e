"""The one exception tree of reelflow.

Every failure a user can see carries a stable ``code`` (documented in docs/ERRORS.md) and a
``retryable`` flag that the stage tasks' retry condition reads. Third-party errors are translated at
the boundary with ``raise ... from exc`` so the cause is kept.

    ReelflowError
    ├── InputError
    │   ├── InputInvalid            input_invalid
    │   ├── InputTooLarge           input_too_large
    │   └── InputUnreadable         input_unreadable
    ├── ScriptError
    │   ├── ScriptInvalid           script_invalid
    │   ├── LLMUnavailable          llm_unavailable      (retryable)
    │   └── LLMRateLimited          llm_rate_limited     (retryable)
    ├── RenderError
    │   ├── TTSFailed               tts_failed
    │   ├── FFmpegFailed            ffmpeg_failed
    │   ├── FFmpegTimeout           ffmpeg_timeout
    │   ├── FFmpegStalled           ffmpeg_stalled
    │   └── ResourceLimitExceeded   resource_limit_exceeded
    ├── StorageError
    │   ├── StorageUnavailable      storage_unavailable  (retryable)
    │   └── StorageRejected         storage_rejected
    ├── WorkerTimeout               worker_timeout
    ├── UserCanceled                user_canceled
    ├── ConfigError                 config_error
    └── InternalError               internal_error
"""

from __future__ import annotations

import re

__all__ = [
    "ERROR_CODES",
    "ConfigError",
    "FFmpegFailed",
    "FFmpegStalled",
    "FFmpegTimeout",
    "InputError",
    "InputInvalid",
    "InputTooLarge",
    "InputUnreadable",
    "InternalError",
    "LLMRateLimited",
    "LLMUnavailable",
    "ReelflowError",
    "RenderError",
    "ResourceLimitExceeded",
    "ScriptError",
    "ScriptInvalid",
    "StorageError",
    "StorageRejected",
    "StorageUnavailable",
    "TTSFailed",
    "UserCanceled",
    "WorkerTimeout",
    "code_from_message",
]


class ReelflowError(Exception):
    """Root of every error reelflow raises on purpose.

    ``str(err)`` starts with ``[code]`` so that the code survives every hop that only keeps a
    message: Prefect state messages, logs, the ledger.
    """

    code = "internal_error"
    retryable = False

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __reduce__(self):  # keep code/message through pickling (Prefect result persistence)
        return (self.__class__, (self.message,), {"detail": self.detail})


class InputError(ReelflowError):
    code = "input_invalid"


class InputInvalid(InputError):
    code = "input_invalid"


class InputTooLarge(InputError):
    code = "input_too_large"


class InputUnreadable(InputError):
    code = "input_unreadable"


class ScriptError(ReelflowError):
    code = "script_invalid"


class ScriptInvalid(ScriptError):
    code = "script_invalid"


class LLMUnavailable(ScriptError):
    code = "llm_unavailable"
    retryable = True


class LLMRateLimited(ScriptError):
    code = "llm_rate_limited"
    retryable = True


class RenderError(ReelflowError):
    code = "ffmpeg_failed"


class TTSFailed(RenderError):
    code = "tts_failed"


class FFmpegFailed(RenderError):
    code = "ffmpeg_failed"


class FFmpegTimeout(RenderError):
    code = "ffmpeg_timeout"


class FFmpegStalled(RenderError):
    code = "ffmpeg_stalled"


class ResourceLimitExceeded(RenderError):
    code = "resource_limit_exceeded"


class StorageError(ReelflowError):
    code = "storage_unavailable"


class StorageUnavailable(StorageError):
    code = "storage_unavailable"
    retryable = True


class StorageRejected(StorageError):
    code = "storage_rejected"


class WorkerTimeout(ReelflowError):
    code = "worker_timeout"


class UserCanceled(ReelflowError):
    code = "user_canceled"


class ConfigError(ReelflowError):
    code = "config_error"


class InternalError(ReelflowError):
    code = "internal_error"


def _leaf_codes() -> tuple[str, ...]:
    seen: list[str] = []
    stack: list[type[ReelflowError]] = [ReelflowError]
    while stack:
        cls = stack.pop()
        if cls.code not in seen:
            seen.append(cls.code)
        stack.extend(cls.__subclasses__())
    return tuple(sorted(seen))


ERROR_CODES: tuple[str, ...] = _leaf_codes()

_CODE_IN_MESSAGE = re.compile(r"\[([a-z_]+)\]")


def code_from_message(message: str | None) -> str | None:
    """The first documented ``[code]`` inside a message (a Prefect state message, a log line)."""
    for match in _CODE_IN_MESSAGE.finditer(message or ""):
        if match.group(1) in ERROR_CODES:
            return match.group(1)
    return None
