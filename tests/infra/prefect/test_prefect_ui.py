"""The operator's view in a real browser (issue 15): the Prefect UI that reelflow's local server
serves (``PREFECT_UI_API_URL`` set by infra/prefect/server.py), driven in Debian's headless
Chromium, with a real process worker.

From the ``video-job-process`` deployment's custom-run form an operator starts a document job with
the preset chosen from a select; the run reaches Completed on its page, the progress and outputs
artifacts are shown, and reelflow's own log lines are in its Logs tab. An empty Source is refused
by the form and creates no run. Screenshots go to ``$TEST_ARTIFACTS_DIR`` (else the test's tmp
dir); their paths are printed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from infra.media.presets import PRESETS
from infra.settings import Settings
from tests.support.browser import artifact_dir, chromium_page, form_field, schema_field
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.tools import PROCESS_DEPLOYMENT, process_worker
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.media,
    pytest.mark.browser,
    pytest.mark.timeout(600),
]

# Bounds against hanging on a busy two-core machine, never measurements.
RUN_DONE_S = 300
UI_SHOWS_S = 120
FINAL_FAILURES = ("Failed", "Crashed", "Cancelled", "TimedOut")


def _flow_run_count(api_url: str) -> int:
    response = httpx.post(f"{api_url}/flow_runs/count", json={}, timeout=30)
    response.raise_for_status()
    return int(response.json())


def _shot(target, path: Path, **options) -> None:
    target.screenshot(path=str(path), **options)
    print(f"screenshot: {path}")  # noqa: T201


def _state_shown(page) -> str:
    """The state on the run page's header badge, once the UI shows one."""
    badge = page.locator(".state-badge").first
    return badge.inner_text().strip() if badge.count() else ""


def test_a_run_from_the_deployment_form_completes_with_artifacts_and_logs(
    own_prefect_server: str, settings: Settings, tmp_path: Path
):
    api_url = str(own_prefect_server)
    ui_url = api_url.removesuffix("/api")
    shots = artifact_dir(tmp_path)
    source = tmp_path / "doc.md"  # inside REELFLOW_INPUT__ROOTS (the settings fixture)
    source.write_text(SAMPLE_MARKDOWN)
    run_name = f"ui-{uuid.uuid4().hex[:10]}"

    with (
        process_worker(api_url, settings.home, PREFECT_LOGGING_TO_API_ENABLED="true"),
        chromium_page(shots / "failure.png") as page,
    ):
        # The deployment, as an operator finds it: Deployments -> video-job-process -> Run ->
        # Custom run.
        page.goto(f"{ui_url}/deployments")
        page.get_by_role("link", name=PROCESS_DEPLOYMENT, exact=True).click()
        page.wait_for_url("**/deployments/deployment/*")
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Custom run", exact=True).click()
        page.wait_for_url("**/deployments/deployment/*/run*")

        # An empty Source is refused by the form: an error under the field, no run created.
        source_field = schema_field(page, "Source")
        source_field.locator("textarea").wait_for()
        page.get_by_role("button", name="Submit", exact=True).click()
        wait_until(
            lambda: "required" in source_field.inner_text(),
            UI_SHOWS_S,
            "the form's error under an empty Source",
            poll=0.5,
        )
        assert "/run" in page.url, page.url
        _shot(source_field, shots / "empty-source-refused.png")
        assert _flow_run_count(api_url) == 0

        # The job: a document under the input roots, the preset picked from its select (the
        # presets are an enum, so the form lists exactly them).
        form_field(page, "Run Name").locator("input").fill(run_name)
        source_field.locator("textarea").fill(str(source))
        preset = schema_field(page, "Preset (Optional)")
        preset.get_by_role("button", name="str", exact=True).click()  # not None: a value
        preset.locator("button.p-select-button__control").focus()
        page.keyboard.press("ArrowDown")  # opens the select's options
        options = page.get_by_role("option")
        options.first.wait_for()
        assert sorted(options.all_inner_texts()) == sorted(PRESETS)
        page.get_by_role("option", name="tiny", exact=True).click()
        assert preset.locator(".p-select-button__value").inner_text().strip() == "tiny"
        page.get_by_role("button", name="Submit", exact=True).click()

        # The form returns to the deployment, whose runs list the new run by its name.
        page.get_by_role("link", name=run_name, exact=True).first.click()
        page.wait_for_url("**/runs/flow-run/*")
        flow_run_id = page.url.split("/runs/flow-run/", 1)[1].split("?", 1)[0]

        def finished() -> str:
            state = _state_shown(page)
            if state in FINAL_FAILURES:
                pytest.fail(f"the UI shows the run {state}; see {shots / 'failure.png'}")
            return state if state == "Completed" else ""

        wait_until(finished, RUN_DONE_S, f"the UI to show run {run_name} Completed", poll=1)

        # reelflow's own lines (logger reelflow.*, with the stage) are in the Logs tab, which
        # the run page opens on.
        page.get_by_text("Logs", exact=True).click()
        wait_until(
            lambda: (
                page.get_by_text("stage probe started", exact=True).count() > 0
                and page.get_by_text("reelflow.stage", exact=True).count() > 0
            ),
            UI_SHOWS_S,
            "a reelflow log line (stage probe started, reelflow.stage) in the Logs tab",
            poll=1,
        )
        page.get_by_text("stage probe started", exact=True).first.scroll_into_view_if_needed()
        _shot(page, shots / "run-logs.png")

        # The progress and outputs artifacts, on the run's Artifacts tab.
        page.get_by_text("Artifacts", exact=True).click()
        outputs_card = page.get_by_text(f"Outputs of reelflow job {flow_run_id}")
        progress_card = page.get_by_text(f"reelflow document job {flow_run_id}", exact=True)
        outputs_card.wait_for()
        progress_card.wait_for()
        _shot(page, shots / "run-completed.png", full_page=True)

        outputs_card.click()
        page.wait_for_url("**/artifacts/artifact/*")
        for key in ("video.mp4", "hls/master.m3u8", "thumb.jpg", "captions.vtt", "manifest.json"):
            page.get_by_text(f"jobs/{flow_run_id}/{key}", exact=True).wait_for()
        _shot(page, shots / "outputs-artifact.png", full_page=True)

        page.go_back()
        page.get_by_text("Artifacts", exact=True).click()
        progress_card.click()
        page.wait_for_url("**/artifacts/artifact/*")
        page.get_by_text("Progress: 100%", exact=True).wait_for()
        _shot(page, shots / "progress-artifact.png")

    assert _flow_run_count(api_url) == 1  # the refused form created nothing
