"""The local Prefect server of the embedded default: started on first use, kept between runs.

Without ``PREFECT_API_URL``, a flow called in-process starts Prefect's temporary server for every
run (about 20 s, and its 20 s start-up timeout fails a first run that must create and migrate the
database on a busy machine). Instead, ``reelflow`` keeps one local server: SQLite under
``<home>/prefect``, listening on 127.0.0.1 (``REELFLOW_PREFECT__LOCAL_SERVER_PORT``), its pid,
port and log recorded in ``<home>/prefect-server.json`` and ``<home>/prefect-server.log``. The first
start may take as long as ``REELFLOW_PREFECT__SERVER_STARTUP_TIMEOUT_S`` (the migration); later
runs find it running. ``reelflow server start|stop|status`` manage it by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.errors import ConfigError

__all__ = ["LocalServer", "ServerState", "pid_alive"]

log = logging.getLogger("reelflow.prefect.server")


@dataclass(frozen=True)
class ServerState:
    pid: int
    port: int
    api_url: str
    log: str
    started_at: float


# Servers this process started, by pid: a server outlives the call that started it (and the CLI
# that did), and a Popen dropped while its process runs is reported as a leak.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalServer:
    """One local Prefect server per reelflow home."""

    def __init__(self, home: Path, port: int, startup_timeout_s: float = 240.0) -> None:
        self.home = home
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.prefect_home = home / "prefect"
        self.state_file = home / "prefect-server.json"
        self.log_file = home / "prefect-server.log"
        self.lock_file = home / "prefect-server.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.lock_file.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def state(self) -> ServerState | None:
        """The recorded server if its process lives, else None (a stale record is removed)."""
        try:
            state = ServerState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not pid_alive(state.pid):
            self.state_file.unlink(missing_ok=True)
            return None
        return state

    def status(self) -> dict[str, object]:
        state = self.state()
        if state is None:
            return {"running": False, "port": self.port, "log": str(self.log_file)}
        return {**asdict(state), "running": True, "healthy": _healthy(state.api_url)}

    def ensure(self) -> str:
        """The API URL of a healthy local server, starting one if needed."""
        with self._locked():
            state = self.state()
            if state is not None:
                if _healthy(state.api_url) or self._wait(state, time.monotonic() + 30):
                    return state.api_url
                log.warning("local Prefect server (pid %s) does not answer; restarting", state.pid)
                self._terminate(state.pid)
            return self._start().api_url

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def environment(self) -> dict[str, str]:
        """The server process's environment: its own home and SQLite database, no telemetry."""
        api_url = self.api_url
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            {
                "PREFECT_HOME": str(self.prefect_home),
                "PREFECT_API_DATABASE_CONNECTION_URL": (
                    f"sqlite+aiosqlite:///{self.prefect_home / 'prefect.db'}"
                ),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_API_URL": api_url,
                "PREFECT_SERVER_API_HOST": "127.0.0.1",
                "PREFECT_SERVER_API_PORT": str(self.port),
            }
        )
        return env

    def _start(self) -> ServerState:
        if not _port_free(self.port):
            raise ConfigError(
                f"port {self.port} on 127.0.0.1 is in use by another program; set "
                "REELFLOW_PREFECT__LOCAL_SERVER_PORT to a free port (or PREFECT_API_URL to a "
                "Prefect server you run)"
            )
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "prefect", "server", "start"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.home,
                start_new_session=True,  # outlives the CLI that started it
            )
        _STARTED[proc.pid] = proc  # it runs on after this call: never left to the GC as running
        state = ServerState(
            pid=proc.pid,
            port=self.port,
            api_url=self.api_url,
            log=str(self.log_file),
            started_at=time.time(),
        )
        self.state_file.write_text(json.dumps(asdict(state)))
        log.info("starting the local Prefect server on port %s (log: %s)", self.port, self.log_file)
        if not self._wait(state, time.monotonic() + self.startup_timeout_s, proc):
            self._terminate(proc.pid)
            self.state_file.unlink(missing_ok=True)
            raise ConfigError(
                f"the local Prefect server did not answer within {self.startup_timeout_s:.0f} s "
                f"(REELFLOW_PREFECT__SERVER_STARTUP_TIMEOUT_S); its log: {self.log_file}"
                + self._log_tail()
            )
        return state

    def _wait(
        self, state: ServerState, deadline: float, proc: subprocess.Popen[bytes] | None = None
    ) -> bool:
        while time.monotonic() < deadline:
            if _healthy(state.api_url):
                return True
            if (proc is not None and proc.poll() is not None) or not pid_alive(state.pid):
                return False
            time.sleep(0.25)
        return False

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n" + "\n".join(tail) if tail else ""

    def _terminate(self, pid: int, grace_s: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and pid_alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        started = _STARTED.pop(pid, None)
        if started is not None:  # reaped here if this process started it
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.wait(timeout=5)

    def stop(self) -> bool:
        """Stop the recorded server; True if one was running."""
        with self._locked():
            state = self.state()
            if state is None:
                return False
            self._terminate(state.pid)
            self.state_file.unlink(missing_ok=True)
            return True
