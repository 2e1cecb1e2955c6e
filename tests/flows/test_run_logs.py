"""reelflow's own log lines reach the flow run's Logs (the Prefect UI), with the job id.

Found in a headless browser (issue 15): only Prefect's lines appeared; the `reelflow` logger sat
at WARNING once Prefect configured logging, although the deployment names it in
PREFECT_LOGGING_EXTRA_LOGGERS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.jobs.models import JobRequest
from infra.settings import Settings
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.jobs import submit
from tests.support.tools import process_worker, wait_for_run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.prefect, pytest.mark.media, pytest.mark.timeout(300)]


def test_reelflow_lines_are_in_the_run_logs(process_pool: str, settings: Settings, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    source = Path(tmp_path) / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)

    def reelflow_lines(run: object) -> list[str]:
        logs: list = []
        with get_client(sync_client=True) as client:
            while True:  # every page: the server answers at most 200 lines at once
                page = client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run])),
                    limit=200,
                    offset=len(logs),
                )
                logs += page
                if len(page) < 200:
                    break
        return [log.message for log in logs if log.name.startswith("reelflow")]

    with process_worker(process_pool, settings.home, PREFECT_LOGGING_TO_API_ENABLED="true"):
        run = submit(
            JobRequest(source=str(source), preset="tiny", job_id="logged-job"),
            "video-job/video-job-process",
        )
        assert wait_for_run(run, 180).is_completed()
        # The run's process ships its lines in batches (every 2 s, the rest as it exits): a short
        # run is Completed before its last batch, which a worker stopped at once would lose.
        messages = wait_until(
            lambda: (m := reelflow_lines(run)) and any("stage cleanup" in x for x in m) and m,
            60,
            "reelflow's lines in the run's logs",
            poll=0.5,
        )
    assert any("stage probe started" in m for m in messages), messages
    assert any("stage render started" in m for m in messages), messages
