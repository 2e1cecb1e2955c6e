"""What a chunk run that did not complete fails its parent job with (from its Prefect state)."""

from __future__ import annotations

import pytest

from infra.errors import FFmpegFailed, ResourceLimitExceeded, StorageUnavailable, WorkerTimeout
from infra.prefect.client import RunState
from tasks.media.chunked import chunk_failure, chunk_key_suffix


def _failed(message: str | None, name: str = "Failed") -> RunState:
    return RunState(name, message, True, False, name.upper())


def test_a_chunks_own_failure_keeps_its_code_and_retryability():
    limit = chunk_failure(
        1, "run-1", _failed("Flow run encountered an exception: ResourceLimitExceeded: "
                            "[resource_limit_exceeded] memory 60 MB above 1 MB"),
    )  # fmt: skip
    assert type(limit) is ResourceLimitExceeded and not limit.retryable
    assert str(limit).startswith("[resource_limit_exceeded] chunk 1 (flow run run-1) ended Failed")
    storage = chunk_failure(0, "r", _failed("StorageUnavailable: [storage_unavailable] S3 gone"))
    assert type(storage) is StorageUnavailable and storage.retryable  # the stage retries
    lost = chunk_failure(2, "r", _failed("[worker_timeout] no heartbeat for 90 s", "Crashed"))
    assert type(lost) is WorkerTimeout


@pytest.mark.parametrize(
    "message",
    [
        None,  # canceled, crashed without a message
        "[input_invalid] this worker plans the source differently from the parent job",
        "[input_too_large] the source is larger than this worker allows",
        "[user_canceled] ...",  # only the job's own cancel may say so
        "[llm_unavailable] a forged run's message",  # retryable, but no chunk's work raises it
        "[budget_exceeded] a forged run's message",
        "[not_a_code] x",
    ],
)
def test_any_other_ending_is_ffmpeg_failed_with_the_chunks_message(message: str | None):
    err = chunk_failure(3, "run-3", _failed(message, "Cancelled" if message is None else "Failed"))
    assert type(err) is FFmpegFailed and not err.retryable
    assert (message or "") in str(err) and "chunk 3 (flow run run-3)" in str(err)


def test_each_attempt_of_parent_and_stage_has_its_own_chunk_run_keys():
    suffixes = {chunk_key_suffix(flow, stage) for flow in (1, 2, 3) for stage in (0, 1, 2, 3)}
    assert chunk_key_suffix(1, 1) == chunk_key_suffix(1, 0) == ""  # first attempt: as before
    assert len(suffixes) == 3 * 3  # stage 0 (outside a task) and 1 are the same first attempt
