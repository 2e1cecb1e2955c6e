"""The job scope and the stage runner: failures are recorded with their code and detail."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from infra.errors import ResourceLimitExceeded
from infra.jobs.models import JobKind, JobRequest
from infra.settings import Settings
from tasks.stage import job_scope
from tests.support.full_disk import tiny_tmpfs
from tests.support.ledgers import ledger


@pytest.mark.prefect
def test_a_full_work_disk_is_resource_limit_exceeded(
    prefect_server: str, settings: Settings, tmp_path: Path
):
    """Attack (issue 9, #11): ENOSPC during render surfaced as internal_error."""
    with tiny_tmpfs(tmp_path / "full") as full:
        with pytest.raises(ResourceLimitExceeded, match="work disk is full") as err:
            with job_scope(
                JobRequest(source="/x.md", job_id="disk-full"),
                kind=JobKind.DOCUMENT,
                flow_run_id=None,
                settings=settings,
                ledger=ledger(),
                description="test",
            ):
                (full / "big").write_bytes(b"x" * 2 * 1024 * 1024)  # a real ENOSPC
        assert isinstance(err.value.__cause__, OSError)
        assert err.value.__cause__.errno == errno.ENOSPC
    job = ledger().get("disk-full")
    assert (job.status, job.error_code) == ("FAILED", "resource_limit_exceeded")
