"""The one exception tree of reelflow.

Every failure a user can see carries a stable ``code`` (documented in docs/ERRORS.md) and a
``retryable`` flag that the stage tasks' retry condition reads. Third-party errors are translated at
the boundary with ``raise ... from exc`` so the cause is kept.

    ReelflowError                                         HTTP
    ├── InputError
    │   ├── InputInvalid            input_invalid          422
    │   ├── InputTooLarge           input_too_large        413
    │   └── InputUnreadable         input_unreadable       422
    ├── ScriptError
    │   ├── ScriptInvalid           script_invalid         422
    │   ├── LLMUnavailable          llm_unavailable        502  (retryable)
    │   ├── LLMRateLimited          llm_rate_limited       502  (retryable)
    │   └── BudgetExceeded          budget_exceeded        402
    ├── RenderError
    │   ├── TTSFailed               tts_failed             500
    │   ├── TTSUnavailable          tts_unavailable        502  (retryable)
    │   ├── FFmpegFailed            ffmpeg_failed          500
    │   ├── FFmpegTimeout           ffmpeg_timeout         500
    │   ├── FFmpegStalled           ffmpeg_stalled         500
    │   ├── ResourceLimitExceeded   resource_limit_exceeded 507
    │   └── OutputInvalid           output_invalid         500  (the publish gate)
    ├── StorageError
    │   ├── StorageUnavailable      storage_unavailable    503  (retryable)
    │   └── StorageRejected         storage_rejected       502
    ├── LedgerUnavailable           ledger_unavailable     503  (retryable)
    ├── PrefectUnavailable          prefect_unavailable    503  (retryable)
    ├── WorkerTimeout               worker_timeout         504
    ├── UserCanceled                user_canceled          409
    ├── ConfigError                 config_error           500
    ├── InternalError               internal_error         500
    └── RequestError                (the job API and its clients)
        ├── Unauthorized            unauthorized           401
        ├── NotFound                not_found              404
        ├── MethodNotAllowed        method_not_allowed     405
        ├── JobDeleted              job_deleted            410
        ├── JobIdTaken              job_id_taken           409
        ├── IdempotencyConflict     idempotency_conflict   409
        ├── PayloadTooLarge         payload_too_large      413
        ├── UrlRefused              url_refused            422  (SSRF rules)
        ├── RateLimited             rate_limited           429  (retryable)
        ├── ConcurrencyLimited      concurrency_limited    429  (retryable)
        └── Overloaded              overloaded             503  (retryable)

``http_status`` is what the job API answers for an error of that class; the body always carries
the code. ``retry_after_s`` (optional) tells a client when to try again.
"""

from __future__ import annotations

import re

__all__ = [
    "ERROR_CODES",
    "BudgetExceeded",
    "ConcurrencyLimited",
    "ConfigError",
    "FFmpegFailed",
    "FFmpegStalled",
    "FFmpegTimeout",
    "IdempotencyConflict",
    "InputError",
    "InputInvalid",
    "InputTooLarge",
    "InputUnreadable",
    "InternalError",
    "JobDeleted",
    "JobIdTaken",
    "LLMRateLimited",
    "LLMUnavailable",
    "LedgerUnavailable",
    "MethodNotAllowed",
    "NotFound",
    "OutputInvalid",
    "Overloaded",
    "PayloadTooLarge",
    "PrefectUnavailable",
    "RateLimited",
    "ReelflowError",
    "RenderError",
    "RequestError",
    "ResourceLimitExceeded",
    "ScriptError",
    "ScriptInvalid",
    "StorageError",
    "StorageRejected",
    "StorageUnavailable",
    "TTSFailed",
    "TTSUnavailable",
    "Unauthorized",
    "UrlRefused",
    "UserCanceled",
    "WorkerTimeout",
    "code_from_message",
    "error_of_code",
]


class ReelflowError(Exception):
    """Root of every error reelflow raises on purpose.

    ``str(err)`` starts with ``[code]`` so that the code survives every hop that only keeps a
    message: Prefect state messages, logs, the ledger.
    """

    code = "internal_error"
    retryable = False
    http_status = 500

    def __init__(
        self, message: str, *, detail: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __reduce__(self):  # keep code/message through pickling (Prefect result persistence)
        state = {"detail": self.detail, "retry_after_s": self.retry_after_s}
        return (self.__class__, (self.message,), state)


class InputError(ReelflowError):
    code = "input_invalid"
    http_status = 422


class InputInvalid(InputError):
    code = "input_invalid"


class InputTooLarge(InputError):
    code = "input_too_large"
    http_status = 413


class InputUnreadable(InputError):
    code = "input_unreadable"


class ScriptError(ReelflowError):
    code = "script_invalid"
    http_status = 422


class ScriptInvalid(ScriptError):
    code = "script_invalid"


class LLMUnavailable(ScriptError):
    code = "llm_unavailable"
    retryable = True
    http_status = 502


class LLMRateLimited(ScriptError):
    code = "llm_rate_limited"
    retryable = True
    http_status = 502


class BudgetExceeded(ScriptError):
    """The client's LLM budget is spent (``budget_exceeded``)."""

    code = "budget_exceeded"
    http_status = 402


class RenderError(ReelflowError):
    code = "ffmpeg_failed"


class TTSFailed(RenderError):
    code = "tts_failed"


class TTSUnavailable(RenderError):
    """A remote speech provider could not be reached, timed out or answered 429/5xx."""

    code = "tts_unavailable"
    retryable = True
    http_status = 502


class FFmpegFailed(RenderError):
    code = "ffmpeg_failed"


class FFmpegTimeout(RenderError):
    code = "ffmpeg_timeout"


class FFmpegStalled(RenderError):
    code = "ffmpeg_stalled"


class ResourceLimitExceeded(RenderError):
    code = "resource_limit_exceeded"
    http_status = 507


class OutputInvalid(RenderError):
    """The publish gate refused what the job was about to publish; nothing is committed."""

    code = "output_invalid"


class StorageError(ReelflowError):
    code = "storage_unavailable"
    http_status = 503


class StorageUnavailable(StorageError):
    code = "storage_unavailable"
    retryable = True


class StorageRejected(StorageError):
    code = "storage_rejected"
    http_status = 502


class LedgerUnavailable(ReelflowError):
    """The job ledger's database is unreachable, locked past its retries or failed over."""

    code = "ledger_unavailable"
    retryable = True
    http_status = 503


class PrefectUnavailable(ReelflowError):
    """Prefect's API could not be reached or answered 5xx (a submit or a cancel failed)."""

    code = "prefect_unavailable"
    retryable = True
    http_status = 503


class WorkerTimeout(ReelflowError):
    code = "worker_timeout"
    http_status = 504


class UserCanceled(ReelflowError):
    code = "user_canceled"
    http_status = 409


class ConfigError(ReelflowError):
    code = "config_error"


class InternalError(ReelflowError):
    code = "internal_error"


class RequestError(ReelflowError):
    """A job API request refused before any work (never the outcome of a job)."""

    code = "input_invalid"
    http_status = 422


class Unauthorized(RequestError):
    code = "unauthorized"
    http_status = 401


class NotFound(RequestError):
    code = "not_found"
    http_status = 404


class MethodNotAllowed(RequestError):
    code = "method_not_allowed"
    http_status = 405


class JobDeleted(RequestError):
    code = "job_deleted"
    http_status = 410


class JobIdTaken(RequestError):
    code = "job_id_taken"
    http_status = 409


class IdempotencyConflict(RequestError):
    code = "idempotency_conflict"
    http_status = 409


class PayloadTooLarge(RequestError):
    code = "payload_too_large"
    http_status = 413


class UrlRefused(RequestError):
    code = "url_refused"
    http_status = 422


class RateLimited(RequestError):
    code = "rate_limited"
    retryable = True
    http_status = 429


class ConcurrencyLimited(RequestError):
    code = "concurrency_limited"
    retryable = True
    http_status = 429


class Overloaded(RequestError):
    code = "overloaded"
    retryable = True
    http_status = 503


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


def _job_error_classes() -> dict[str, type[ReelflowError]]:
    """Each code a job's own work can fail with -> its most specific class (depth first, the
    first class that no subclass of the same code refines). Request errors are the gateway's,
    and ``user_canceled`` is raised only by the job's own cancel."""
    found: dict[str, type[ReelflowError]] = {}
    stack: list[type[ReelflowError]] = [ReelflowError]
    while stack:
        cls = stack.pop()
        subclasses = cls.__subclasses__()
        if issubclass(cls, (RequestError, UserCanceled)):
            continue
        if cls.code not in found and all(sub.code != cls.code for sub in subclasses):
            found[cls.code] = cls
        stack.extend(reversed(subclasses))
    return found


def error_of_code(code: str | None, message: str, *, default: type[ReelflowError]) -> ReelflowError:
    """``message`` as the error of ``code`` (another run's failure, read from its state
    message, raised with its own code and retryability); ``default``'s for no such job code."""
    return _job_error_classes().get(code or "", default)(message)
