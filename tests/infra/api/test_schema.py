"""Schemathesis against the running gateway's own /openapi.json, a bounded number of examples
per operation: no answer is a 5xx, and every answer matches what the schema documents (status,
content type, body, headers).

Schemathesis' pytest plugin does not load under pytest 9, so the operations are driven through
its Python API: one Hypothesis run per operation, 20 examples each, derandomized.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [
    pytest.mark.api,
    pytest.mark.prefect,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.timeout(900),
]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = 20


def test_api_matches_its_schema(api_stack):
    # At most one job of this client runs: every other valid submission is a documented 429.
    key = api_stack.key("schemathesis", rate=100_000, max_active=1)
    url = api_stack.gateway.url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    calls: dict[str, int] = {}
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:  # noqa: ANN001
            response = case.call_and_validate(
                base_url=url,
                headers={"Authorization": f"Bearer {key}"},
                checks=CHECKS,
                timeout=60,
            )
            label = case.operation.label
            calls[label] = calls.get(label, 0) + 1
            assert response.status_code < 500

        run()
    assert len(calls) == 11 and all(count >= 1 for count in calls.values()), calls
    with api_stack.gateway.client(key) as client:
        for job in client.get("/v1/jobs", params={"limit": 100}).json()["jobs"]:
            client.post(f"/v1/jobs/{job['id']}/cancel")
