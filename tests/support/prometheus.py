"""A real Prometheus (Debian's binary) on 127.0.0.1 for a test, and the waits tests need.

    with running_prometheus({"reelflow-gateway": ["127.0.0.1:8123"]}, rule_files=[RULES]) as prom:
        prom.wait_for_targets("reelflow-gateway")
        prom.query('up{job="reelflow-gateway"}')          # the result vector; fails on an error
        prom.wait_for_alert("NoWorkerOnline", timeout_s=120)

Scrapes and rule evaluations run every second by default. Everything lives in a temporary
directory (config, TSDB) that is removed on exit, and the process is stopped (TERM, then KILL)
in ``finally``, whatever the test did; it also dies with the test process (PR_SET_PDEATHSIG via
setpriv), so a killed pytest leaves no Prometheus behind. Fails (never skips) without the binary.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import yaml

from tests.support import waiting
from tests.support.tools import free_port

__all__ = ["PrometheusServer", "prometheus_binary", "running_prometheus", "serving_metrics"]

POLL_S = 0.2


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail(
            "the prometheus binary is required: apt-get install --no-install-recommends "
            "prometheus (scripts/setup.sh --test installs it)"
        )
    return found


class PrometheusServer:
    """A started Prometheus: its URL and the API calls tests make."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>``; the ``data`` of a success, else the test fails."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as exc:  # 400/422 carry the error in a JSON body
            body = json.load(exc)
        if body.get("status") != "success":
            pytest.fail(f"Prometheus /api/v1/{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar/string as a one-element list) of ``expr`` now."""
        data = self.api("query", query=expr)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [result]

    def wait_until(self, what: str, ready: Callable[[], bool], timeout_s: float) -> None:

        def alive_and_ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"Prometheus exited ({self.process.returncode}): {self.log_tail()}")
            return ready()

        waiting.wait_until(alive_and_ready, timeout_s, what, poll=POLL_S)

    def wait_for_targets(self, job: str, timeout_s: float = 30.0, scrapes: int = 1) -> None:
        """Until every target of ``job`` is up and has been scraped ``scrapes`` times."""

        def ready() -> bool:
            active = [t for t in self.api("targets")["activeTargets"] if t["scrapePool"] == job]
            if not active or any(t["health"] != "up" for t in active):
                return False
            counts = self.query(f'count_over_time(up{{job="{job}"}}[5m])')
            return len(counts) == len(active) and all(
                float(c["value"][1]) >= scrapes for c in counts
            )

        self.wait_until(f"{scrapes} scrapes of every {job} target", ready, timeout_s)

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        found = self.api("alerts")["alerts"]
        return [a for a in found if name is None or a["labels"]["alertname"] == name]

    def wait_for_alert(
        self, name: str, state: str = "firing", timeout_s: float = 120.0
    ) -> dict[str, Any]:
        """The first alert ``name`` in ``state`` (pending or firing)."""
        self.wait_until(
            f"alert {name} {state}",
            lambda: any(a["state"] == state for a in self.alerts(name)),
            timeout_s,
        )
        return next(a for a in self.alerts(name) if a["state"] == state)

    def wait_for_no_alert(self, name: str, timeout_s: float = 120.0) -> None:
        self.wait_until(f"alert {name} resolved", lambda: not self.alerts(name), timeout_s)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _config(
    scrape: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path],
    scrape_interval: str,
    evaluation_interval: str,
    metrics_path: str,
) -> dict[str, Any]:
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": metrics_path,
                "static_configs": [{"targets": list(targets)}],
            }
            for job, targets in scrape.items()
        ],
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_prometheus(
    scrape: Mapping[str, Sequence[str]],
    *,
    rule_files: Sequence[Path] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    metrics_path: str = "/metrics",
    startup_timeout_s: float = 30.0,
) -> Iterator[PrometheusServer]:
    """Prometheus scraping ``scrape`` (job name -> ["127.0.0.1:port", ...]) on a free port."""
    binary = prometheus_binary()
    setpriv = shutil.which("setpriv")
    with tempfile.TemporaryDirectory(prefix="reelflow-prometheus-") as tmp:
        root = Path(tmp)
        config = root / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                _config(scrape, rule_files, scrape_interval, evaluation_interval, metrics_path)
            )
        )
        log = root / "prometheus.log"
        for _attempt in range(3):  # another process may take the free port first
            port = free_port()
            argv = [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ]
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
            try:
                deadline = time.monotonic() + startup_timeout_s
                while process.poll() is None and not _answers(server.url):
                    if time.monotonic() > deadline:
                        pytest.fail(f"Prometheus not ready in {startup_timeout_s:g} s")
                    time.sleep(POLL_S)
                if process.poll() is not None:
                    if "address already in use" in server.log_tail():
                        continue
                    pytest.fail(f"Prometheus exited ({process.returncode}): {server.log_tail()}")
                yield server
                return
            finally:
                _stop(process)
        pytest.fail("Prometheus could not get a free port in 3 attempts")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def serving_metrics(render: Callable[[], tuple[bytes, str]]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering ``GET /metrics`` with ``render()``; yields
    ``host:port`` (a scrape target). Stopped and closed on exit."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body, content_type = render()
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
