"""Every reelflow metric, on a registry of its own, and the calls that move them.

One :class:`ReelflowMetrics` owns one ``CollectorRegistry`` (never prometheus-client's global
one, so Prefect's or a library's metrics never mix in and tests get a fresh set each). Label
values pass through :mod:`infra.metrics.labels`; recording never raises.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric

from infra.metrics.labels import (
    JOB_ERROR_CODES,
    NO_ERROR,
    OUTCOMES,
    REFUSAL_REASONS,
    BoundedLabel,
    error_code_label,
    kind_label,
    method_label,
    outcome_label,
    preset_label,
    refusal_label,
    status_label,
)

__all__ = [
    "SLO_MIN_OUTPUT_MINUTES",
    "SLO_TARGET_S_PER_OUTPUT_MINUTE",
    "ReelflowMetrics",
]

log = logging.getLogger("reelflow.metrics")

# The job latency SLO: a job is on target when it finished, from submission, within this many
# seconds per minute of output (a 3-minute video within 3 minutes). Outputs shorter than
# SLO_MIN_OUTPUT_MINUTES are held to the target of that length, so fixed costs (container start,
# Prefect's per-run overhead) do not make every short job miss. The target must be a bucket bound
# of JOB_S_PER_OUTPUT_MINUTE_BUCKETS: rules.yml reads that bucket (le="60.0").
SLO_TARGET_S_PER_OUTPUT_MINUTE = 60.0
SLO_MIN_OUTPUT_MINUTES = 1.0

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STAGE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
JOB_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
QUEUE_BUCKETS = (0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
JOB_S_PER_OUTPUT_MINUTE_BUCKETS = (5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0)
SPEED_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
LEDGER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


class _WithoutCreated:
    """A registry's families minus the ``_created`` samples of counters and histograms.

    Prometheus 2.x stores them as separate series nobody queries (doubling the series of every
    counter); prometheus-client's switch for them is process-wide, this is ours only.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            created = f"{family.name}_created"
            family.samples = [s for s in family.samples if s.name != created]
            yield family


def _version() -> str:
    try:
        return metadata.version("reelflow")
    except metadata.PackageNotFoundError:
        return "unknown"


class ReelflowMetrics:
    """The metric objects of one process, and the calls the gateway and job service make."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._routes = BoundedLabel(100)
        self._clients = BoundedLabel(100)
        self._stages = BoundedLabel(20, r"[a-z_]{1,32}")
        self._ops = BoundedLabel(60, r"[a-z_]{1,40}")
        self._seen_job_labels: set[tuple[str, str, str]] = set()
        self._before_scrape: list[Callable[[], object]] = []
        r = self.registry

        # Gateway.
        self.http_requests = Counter(
            "reelflow_http_requests_total",
            "HTTP requests answered by the gateway, by route template, method and status.",
            ("route", "method", "status"),
            registry=r,
        )
        self.http_duration = Histogram(
            "reelflow_http_request_duration_seconds",
            "Time from request received to response sent, by route template and method.",
            ("route", "method"),
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.http_refused = Counter(
            "reelflow_http_refused_total",
            "Requests refused before any work, by the error code answered.",
            ("reason",),
            registry=r,
        )
        for reason in REFUSAL_REASONS:
            self.http_refused.labels(reason)

        # Jobs (fed from the ledger, see infra.metrics.ledger.JobEventFeed).
        self.jobs_submitted = Counter(
            "reelflow_jobs_submitted_total",
            "Jobs accepted (a ledger row written), by kind, preset and client.",
            ("kind", "preset", "client"),
            registry=r,
        )
        self.jobs_finished = Counter(
            "reelflow_jobs_finished_total",
            "Jobs that reached a terminal state, by outcome and error code (none on success).",
            ("kind", "preset", "client", "outcome", "error_code"),
            registry=r,
        )
        self.stage_duration = Histogram(
            "reelflow_stage_duration_seconds",
            "Wall-clock time of one stage of a job (all attempts).",
            ("kind", "stage"),
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.job_duration = Histogram(
            "reelflow_job_duration_seconds",
            "Time from submission to a terminal state.",
            ("kind",),
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "reelflow_job_queue_wait_seconds",
            "Time from submission to the first stage starting.",
            ("kind",),
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.job_s_per_output_minute = Histogram(
            "reelflow_job_seconds_per_output_minute",
            "Submission-to-success time per minute of output (at least "
            f"{SLO_MIN_OUTPUT_MINUTES:g} min); the SLO target is "
            f"{SLO_TARGET_S_PER_OUTPUT_MINUTE:g} s.",
            ("kind",),
            buckets=JOB_S_PER_OUTPUT_MINUTE_BUCKETS,
            registry=r,
        )
        self.encode_speed = Histogram(
            "reelflow_encode_speed_ratio",
            "Seconds of media encoded per second of encoding (x real time).",
            ("kind",),
            buckets=SPEED_BUCKETS,
            registry=r,
        )
        self.stored_bytes = Counter(
            "reelflow_stored_bytes_total",
            "Bytes of committed job outputs written to the artifact store.",
            ("kind",),
            registry=r,
        )

        # Dependencies.
        self.ledger_seconds = Histogram(
            "reelflow_ledger_operation_seconds",
            "Time of one job ledger operation (including its busy retries).",
            ("op",),
            buckets=LEDGER_BUCKETS,
            registry=r,
        )
        self.ledger_errors = Counter(
            "reelflow_ledger_errors_total",
            "Job ledger operations that raised.",
            ("op",),
            registry=r,
        )
        self.store_seconds = Histogram(
            "reelflow_store_operation_seconds",
            "Time of one artifact store operation.",
            ("op",),
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "reelflow_store_errors_total",
            "Artifact store operations that raised.",
            ("op",),
            registry=r,
        )
        self.work_root_free = Gauge(
            "reelflow_work_root_free_bytes",
            "Free bytes on the file system of the work root (NaN when it cannot be read).",
            registry=r,
        )
        self.work_root_free.set(math.nan)
        self.build_info = Gauge(
            "reelflow_build_info",
            "Always 1; the running reelflow version.",
            ("version",),
            registry=r,
        )
        self.build_info.labels(_version()).set(1)

    # -- gateway ---------------------------------------------------------------------------

    def observe_request(self, route: str | None, method: str, status: int, seconds: float) -> None:
        """One answered request. ``route`` is the route *template* (``/v1/jobs/{job_id}``),
        ``None`` when no route matched."""
        route_l = self._routes(route, default="unmatched")
        method_l = method_label(method)
        self.http_requests.labels(route_l, method_l, status_label(status)).inc()
        self.http_duration.labels(route_l, method_l).observe(seconds)

    def refused(self, reason: str) -> None:
        """A request refused before any work; ``reason`` is the error code answered."""
        self.http_refused.labels(refusal_label(reason)).inc()

    # -- jobs ------------------------------------------------------------------------------

    def _job_labels(self, kind: str | None, preset: str | None, client: str | None):
        labels = (kind_label(kind), preset_label(preset), self._clients(client, "anonymous"))
        if labels not in self._seen_job_labels:
            # Series exist at 0 before their first increment, so rate() sees that increment.
            self._seen_job_labels.add(labels)
            self.jobs_finished.labels(*labels, "succeeded", NO_ERROR)
            self.jobs_finished.labels(*labels, "canceled", "user_canceled")
            for code in JOB_ERROR_CODES:
                if code != "user_canceled":
                    self.jobs_finished.labels(*labels, "failed", code)
        return labels

    def job_submitted(self, kind: str | None, preset: str | None, client: str | None) -> None:
        self.jobs_submitted.labels(*self._job_labels(kind, preset, client)).inc()

    def job_started(self, kind: str | None, queue_wait_s: float | None) -> None:
        if queue_wait_s is not None and queue_wait_s >= 0:
            self.queue_wait.labels(kind_label(kind)).observe(queue_wait_s)

    def job_finished(
        self,
        kind: str | None,
        preset: str | None,
        client: str | None,
        outcome: str,
        error_code: str | None = None,
        *,
        duration_s: float | None = None,
        output_s: float | None = None,
        stored_bytes: int = 0,
        stage_seconds: Mapping[str, float] | None = None,
        encode_speed: float | None = None,
    ) -> None:
        """A job reached ``outcome`` (succeeded, failed, canceled; any case).

        ``duration_s`` is submission to terminal state; ``output_s`` the length of the video
        produced (a success only), which feeds the SLO histogram.
        """
        labels = self._job_labels(kind, preset, client)
        outcome_l = outcome_label(outcome)
        if outcome_l not in OUTCOMES:
            log.warning("job outcome %r is not one of %s", outcome, OUTCOMES)
        self.jobs_finished.labels(*labels, outcome_l, error_code_label(outcome_l, error_code)).inc()
        kind_l = labels[0]
        if duration_s is not None and duration_s >= 0:
            self.job_duration.labels(kind_l).observe(duration_s)
            if outcome_l == "succeeded" and output_s:
                minutes = max(output_s / 60.0, SLO_MIN_OUTPUT_MINUTES)
                self.job_s_per_output_minute.labels(kind_l).observe(duration_s / minutes)
        for stage, seconds in (stage_seconds or {}).items():
            self.stage_duration.labels(kind_l, self._stages(stage)).observe(seconds)
        if encode_speed is not None and encode_speed > 0:
            self.encode_speed.labels(kind_l).observe(encode_speed)
        if stored_bytes > 0:
            self.stored_bytes.labels(kind_l).inc(stored_bytes)

    # -- dependencies ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _timed(self, seconds: Histogram, errors: Counter, op: str) -> Iterator[None]:
        op_l = self._ops(op)
        errors.labels(op_l)  # exists at 0 before the first error
        start = time.perf_counter()
        try:
            yield
        except Exception:
            errors.labels(op_l).inc()
            raise
        finally:
            seconds.labels(op_l).observe(time.perf_counter() - start)

    def ledger_op(self, op: str) -> contextlib.AbstractContextManager[None]:
        """``with metrics.ledger_op("create_job"): ...`` times it and counts an exception."""
        return self._timed(self.ledger_seconds, self.ledger_errors, op)

    def store_op(self, op: str) -> contextlib.AbstractContextManager[None]:
        """``with metrics.store_op("presign"): ...`` times it and counts an exception.

        Name operations that move an object's body ``upload`` / ``download``: their time grows
        with the object, so the StoreLatencyHigh alert leaves them out."""
        return self._timed(self.store_seconds, self.store_errors, op)

    def watch_work_root(self, path: Path) -> None:
        """Report the free space of ``path``'s file system at every scrape."""

        def free_bytes() -> float:
            try:
                return float(shutil.disk_usage(path).free)
            except OSError:
                return math.nan

        self.work_root_free.set_function(free_bytes)

    # -- exposition ------------------------------------------------------------------------

    def before_scrape(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` at the start of every :meth:`render` (the ledger feed uses it)."""
        self._before_scrape.append(hook)

    def render(self) -> tuple[bytes, str]:
        """The text exposition of this registry and its content type, for ``GET /metrics``.

        Text format 0.0.4: what every Prometheus 2.x parses (prometheus-client's own "latest"
        content type names 1.0.0, which older scrapers do not know)."""
        for hook in self._before_scrape:
            try:
                hook()
            except Exception:  # a feed that fails is counted by itself; the scrape goes on
                log.exception("metrics hook %r failed", hook)
        return generate_latest(_WithoutCreated(self.registry)), CONTENT_TYPE_PLAIN_0_0_4
