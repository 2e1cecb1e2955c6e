from __future__ import annotations

import pickle
from pathlib import Path

from infra import errors
from infra.errors import (
    ERROR_CODES,
    FFmpegFailed,
    InputInvalid,
    InputUnreadable,
    InternalError,
    ResourceLimitExceeded,
    StorageUnavailable,
    code_from_message,
    error_of_code,
)

DESIGN_CODES = {
    "input_invalid",
    "input_too_large",
    "input_unreadable",
    "script_invalid",
    "llm_unavailable",
    "llm_rate_limited",
    "tts_failed",
    "ffmpeg_failed",
    "ffmpeg_timeout",
    "ffmpeg_stalled",
    "resource_limit_exceeded",
    "storage_unavailable",
    "storage_rejected",
    "worker_timeout",
    "user_canceled",
    "config_error",
    "internal_error",
    "output_invalid",
    # the job API and its clients
    "unauthorized",
    "not_found",
    "job_id_taken",
    "rate_limited",
    "concurrency_limited",
    "overloaded",
    "payload_too_large",
    "url_refused",
    "budget_exceeded",
}


def test_every_design_code_has_an_exception():
    assert DESIGN_CODES <= set(ERROR_CODES)


def test_every_code_is_documented():
    doc = (Path(__file__).parents[2] / "docs" / "ERRORS.md").read_text()
    missing = [code for code in ERROR_CODES if f"`{code}`" not in doc]
    assert missing == []


def test_message_carries_code_and_survives_pickle():
    err = InputUnreadable("the PDF is encrypted")
    assert str(err) == "[input_unreadable] the PDF is encrypted"
    again = pickle.loads(pickle.dumps(err))
    assert again.code == "input_unreadable" and again.message == err.message
    assert code_from_message(f"Flow run encountered an exception: InputUnreadable: {err}") == (
        "input_unreadable"
    )
    assert code_from_message("[not_a_code] nope") is None


def test_retryable_flags():
    assert StorageUnavailable("x").retryable
    assert not InputUnreadable("x").retryable


def test_all_matches_module():
    public = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert public <= set(errors.__all__)


def test_another_runs_failure_keeps_its_code_and_retryability():
    limit = error_of_code("resource_limit_exceeded", "chunk 1 ended Failed", default=FFmpegFailed)
    assert type(limit) is ResourceLimitExceeded and not limit.retryable
    assert str(limit) == "[resource_limit_exceeded] chunk 1 ended Failed"
    storage = error_of_code("storage_unavailable", "chunk 0", default=FFmpegFailed)
    assert type(storage) is StorageUnavailable and storage.retryable  # not the base StorageError
    assert type(error_of_code("internal_error", "x", default=FFmpegFailed)) is InternalError
    assert type(error_of_code("input_invalid", "x", default=FFmpegFailed)) is InputInvalid
    # no code, an unknown one, the job's own cancel, a request's (the gateway's) code: the default
    for code in (None, "nope", "user_canceled", "rate_limited", "unauthorized"):
        assert type(error_of_code(code, "chunk 2 ended Crashed", default=FFmpegFailed)) is (
            FFmpegFailed
        )
