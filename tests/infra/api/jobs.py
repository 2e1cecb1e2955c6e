"""Helpers of the job API tests: poll a job, place a source in the inbox."""

from __future__ import annotations

import uuid

import httpx

from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.waiting import wait_until

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED"}


def wait_terminal(client: httpx.Client, job_id: str, timeout_s: float = 300) -> dict:
    """The job's status document once it is terminal (fails the test after ``timeout_s``)."""

    def terminal() -> dict | None:
        answer = client.get(f"/v1/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        return doc if doc["status"] in TERMINAL else None

    return wait_until(terminal, timeout_s, f"job {job_id} to end", poll=0.5)


def inbox_source(stack, text: str = SAMPLE_MARKDOWN) -> str:  # noqa: ANN001
    """An ``s3://`` source in the stack's inbox (what a client that uploads to MinIO names)."""
    key = f"inbox/src-{uuid.uuid4().hex[:10]}/doc.md"
    stack.store.put_bytes(key, text.encode(), "text/markdown")
    return f"s3://{stack.settings.storage.bucket}/{key}"
