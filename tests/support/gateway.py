"""The job API gateway as a real process: ``reelflow serve`` under uvicorn on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.tools import ROOT, free_port
from tests.support.waiting import wait_until

__all__ = ["Gateway", "gateway_process"]


class Gateway:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def rss(self) -> int:
        import psutil

        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def client(self, key: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def gateway_process(env: dict[str, str], log: Path, *args: str) -> Iterator[Gateway]:
    """``reelflow serve --no-worker`` with ``env`` on top of this process's environment;
    waits until ``/healthz`` answers, stops it (TERM, then KILL) afterwards."""
    port = free_port()
    argv = [sys.executable, "-c", "from cli.main import main; main()", "serve"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-worker", *args]
    out = log.open("ab")
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the gateway exited:\n{log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 120, "the gateway's /healthz", poll=0.2)
        yield Gateway(proc, url, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        out.close()


@contextlib.contextmanager
def serve_app(app: object) -> Iterator[str]:
    """``app`` under a real uvicorn server in a thread on a free port; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn exited before it started"
        return bool(server.started)

    wait_until(started, 30, "uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
