"""The recording calls move exactly the series they should, with bounded labels."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client import REGISTRY as GLOBAL_REGISTRY

import infra.metrics as metrics_package
from infra.errors import ERROR_CODES
from infra.metrics import METRIC_NAMES, ReelflowMetrics
from infra.metrics.instruments import (
    JOB_S_PER_OUTPUT_MINUTE_BUCKETS,
    SLO_TARGET_S_PER_OUTPUT_MINUTE,
)
from infra.metrics.labels import JOB_ERROR_CODES, REFUSAL_REASONS
from tests.infra.metrics.scrape import scrape, value

JOBS = "reelflow_jobs_finished_total"


@pytest.fixture()
def metrics() -> ReelflowMetrics:
    return ReelflowMetrics()


def test_all_matches_the_package():
    public = {name for name in dir(metrics_package) if not name.startswith("_")}
    modules = {"deadline", "instruments", "labels", "ledger", "prefect"}
    typing_names = {"annotations", "Callable", "Collection", "Iterable", "datetime"}
    assert set(metrics_package.__all__) == public - modules - typing_names


def test_names_follow_prometheus_conventions(metrics: ReelflowMetrics):
    families = {family.name: family for family in metrics.registry.collect()}
    for name, family in families.items():
        assert name.startswith("reelflow_"), name
        assert name in METRIC_NAMES, f"{name} missing from METRIC_NAMES"
        if family.type == "counter":
            assert not name.endswith("_total")  # the exposition adds it
        if family.type == "histogram":
            assert name.endswith(("_seconds", "_ratio", "_minute")), name


def test_own_registry_not_the_global_one(metrics: ReelflowMetrics):
    metrics.observe_request("/v1/jobs", "POST", 202, 0.01)
    assert GLOBAL_REGISTRY.get_sample_value("reelflow_http_requests_total") is None


def test_observe_request(metrics: ReelflowMetrics):
    metrics.observe_request("/v1/jobs/{job_id}", "get", 200, 0.02)
    metrics.observe_request("/v1/jobs/{job_id}", "GET", 200, 3.0)
    metrics.observe_request(None, "BREW", 404, 0.001)
    series = scrape(metrics)
    route = "/v1/jobs/{job_id}"
    ok = {"route": route, "method": "GET", "status": "200"}
    assert value(series, "reelflow_http_requests_total", **ok) == 2
    hist = {"route": route, "method": "GET"}
    assert value(series, "reelflow_http_request_duration_seconds_count", **hist) == 2
    assert value(series, "reelflow_http_request_duration_seconds_sum", **hist) == 3.02
    assert value(series, "reelflow_http_request_duration_seconds_bucket", le="0.025", **hist) == 1
    unmatched = {"route": "unmatched", "method": "OTHER", "status": "404"}
    assert value(series, "reelflow_http_requests_total", **unmatched) == 1


def test_routes_are_bounded(metrics: ReelflowMetrics):
    for i in range(150):
        metrics.observe_request(f"/raw/{i}", "GET", 200, 0.01)
    metrics.observe_request("/has spaces and ?query=1", "GET", 200, 0.01)
    series = scrape(metrics)
    routes = {
        dict(labels)["route"] for name, labels in series if name == "reelflow_http_requests_total"
    }
    assert len(routes) == 101  # 100 admitted + "other"
    assert value(series, "reelflow_http_requests_total", route="other", method="GET", status="200")
    assert (
        value(series, "reelflow_http_requests_total", route="other", method="GET", status="200")
        == 51
    )


def test_refusals_exist_at_zero_and_count(metrics: ReelflowMetrics):
    assert set(REFUSAL_REASONS) <= set(ERROR_CODES)
    metrics.refused("rate_limited")
    metrics.refused("rate_limited")
    metrics.refused("not_a_reason")
    series = scrape(metrics)
    assert value(series, "reelflow_http_refused_total", reason="rate_limited") == 2
    assert value(series, "reelflow_http_refused_total", reason="overloaded") == 0
    assert value(series, "reelflow_http_refused_total", reason="other") == 1
    reasons = {dict(k[1])["reason"] for k in series if k[0] == "reelflow_http_refused_total"}
    assert reasons == {*REFUSAL_REASONS, "other"}


def test_job_submitted_and_finished(metrics: ReelflowMetrics):
    metrics.job_submitted("document", "hd", "acme")
    metrics.job_started("document", 4.0)
    metrics.job_finished(
        "document",
        "hd",
        "acme",
        "SUCCEEDED",
        duration_s=90.0,
        output_s=180.0,  # 3 minutes of video in 90 s: 30 s per output minute
        stored_bytes=5_000_000,
        stage_seconds={"probe": 0.5, "render": 60.0},
        encode_speed=12.0,
    )
    metrics.job_finished("document", "hd", "acme", "failed", "ffmpeg_timeout", duration_s=900)
    metrics.job_finished("media", "sd", "acme", "canceled", None, duration_s=5)
    series = scrape(metrics)
    doc = {"kind": "document", "preset": "hd", "client": "acme"}
    assert value(series, "reelflow_jobs_submitted_total", **doc) == 1
    assert value(series, JOBS, outcome="succeeded", error_code="none", **doc) == 1
    assert value(series, JOBS, outcome="failed", error_code="ffmpeg_timeout", **doc) == 1
    media = {"kind": "media", "preset": "sd", "client": "acme"}
    assert value(series, JOBS, outcome="canceled", error_code="user_canceled", **media) == 1
    assert value(series, "reelflow_job_queue_wait_seconds_sum", kind="document") == 4.0
    assert value(series, "reelflow_job_duration_seconds_count", kind="document") == 2
    assert value(series, "reelflow_job_duration_seconds_count", kind="media") == 1
    # Only the success enters the SLO histogram: 30 s per minute, within the 60 s target.
    slo = "reelflow_job_seconds_per_output_minute"
    assert value(series, f"{slo}_count", kind="document") == 1
    assert value(series, f"{slo}_sum", kind="document") == 30.0
    assert value(series, f"{slo}_bucket", kind="document", le="30.0") == 1
    assert value(series, "reelflow_stage_duration_seconds_sum", kind="document", stage="render")
    assert value(series, "reelflow_stage_duration_seconds_count", kind="document", stage="probe")
    assert value(series, "reelflow_encode_speed_ratio_sum", kind="document") == 12.0
    assert value(series, "reelflow_stored_bytes_total", kind="document") == 5_000_000
    assert value(series, "reelflow_stored_bytes_total", kind="media") is None


def test_short_outputs_are_held_to_one_minute(metrics: ReelflowMetrics):
    # 20 s of video in 45 s: 135 s per output minute taken literally, 45 s with the 1-min floor.
    metrics.job_finished("document", "hd", "c", "succeeded", duration_s=45.0, output_s=20.0)
    series = scrape(metrics)
    assert value(series, "reelflow_job_seconds_per_output_minute_sum", kind="document") == 45.0


def test_slo_target_is_a_bucket_bound():
    assert SLO_TARGET_S_PER_OUTPUT_MINUTE in JOB_S_PER_OUTPUT_MINUTE_BUCKETS


def test_finished_series_exist_before_their_first_increment(metrics: ReelflowMetrics):
    """rate() needs the series at 0 before the first failure, or that failure is never seen."""
    metrics.job_submitted("media", "hd", "beta")
    series = scrape(metrics)
    labels = {"kind": "media", "preset": "hd", "client": "beta"}
    assert value(series, JOBS, outcome="succeeded", error_code="none", **labels) == 0
    for code in JOB_ERROR_CODES:
        if code != "user_canceled":
            assert value(series, JOBS, outcome="failed", error_code=code, **labels) == 0, code
    assert value(series, JOBS, outcome="failed", error_code="rate_limited", **labels) is None


def test_job_labels_are_bounded(metrics: ReelflowMetrics):
    metrics.job_finished("auto", "ultra", None, "failed", "no_such_code")
    for i in range(120):
        metrics.job_submitted("document", "hd", f"client-{i}")
    series = scrape(metrics)
    odd = {"kind": "unknown", "preset": "other", "client": "anonymous"}
    assert value(series, JOBS, outcome="failed", error_code="internal_error", **odd) == 1
    clients = {dict(k[1])["client"] for k in series if k[0] == "reelflow_jobs_submitted_total"}
    assert len(clients) == 101  # the first 100 names, then "other"
    assert "other" in clients


def test_ledger_and_store_ops(metrics: ReelflowMetrics):
    with metrics.ledger_op("create_job"):
        pass
    with pytest.raises(OSError), metrics.store_op("put"):
        raise OSError("disk gone")
    series = scrape(metrics)
    assert value(series, "reelflow_ledger_operation_seconds_count", op="create_job") == 1
    assert value(series, "reelflow_ledger_errors_total", op="create_job") == 0
    assert value(series, "reelflow_store_operation_seconds_count", op="put") == 1
    assert value(series, "reelflow_store_errors_total", op="put") == 1


def test_cancellation_is_not_a_store_error(metrics: ReelflowMetrics):
    """Prefect cancels with a BaseException: that is not the store failing."""
    with pytest.raises(KeyboardInterrupt), metrics.store_op("put"):
        raise KeyboardInterrupt
    assert value(scrape(metrics), "reelflow_store_errors_total", op="put") == 0


def test_work_root_free_bytes(metrics: ReelflowMetrics, tmp_path: Path):
    assert math.isnan(value(scrape(metrics), "reelflow_work_root_free_bytes") or 0.0)
    metrics.watch_work_root(tmp_path)
    free = value(scrape(metrics), "reelflow_work_root_free_bytes")
    assert free is not None and free > 0
    metrics.watch_work_root(tmp_path / "missing")
    assert math.isnan(value(scrape(metrics), "reelflow_work_root_free_bytes") or 0.0)


def test_build_info(metrics: ReelflowMetrics):
    series = scrape(metrics)
    versions = [dict(k[1])["version"] for k in series if k[0] == "reelflow_build_info"]
    assert len(versions) == 1 and versions[0]
    assert series[("reelflow_build_info", frozenset({("version", versions[0])}))] == 1


def test_module_functions_record_on_the_process_metrics():
    before = metrics_package.METRICS.registry.get_sample_value(
        "reelflow_http_refused_total", {"reason": "payload_too_large"}
    )
    metrics_package.refused("payload_too_large")
    body, content_type = metrics_package.render_latest()
    assert content_type.startswith("text/plain")
    after = metrics_package.METRICS.registry.get_sample_value(
        "reelflow_http_refused_total", {"reason": "payload_too_large"}
    )
    assert after == (before or 0) + 1
    assert b"reelflow_http_refused_total" in body


def test_a_failing_scrape_hook_does_not_fail_the_scrape(
    metrics: ReelflowMetrics, caplog: pytest.LogCaptureFixture
):
    def broken() -> None:
        raise ValueError("feed bug")

    metrics.before_scrape(broken)
    assert value(scrape(metrics), "reelflow_http_refused_total", reason="overloaded") == 0
    assert "feed bug" in caplog.text
