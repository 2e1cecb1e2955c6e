"""The warm runner: ``reelflow run`` without paying for Python imports on every run.

A ``reelflow run`` spends about 2.6 s importing Prefect, SQLAlchemy and the flows before its
first stage, and Prefect's teardown (the events drain) after the last one: more than the bare
espeak-ng and ffmpeg commands of a short job take. On the embedded default, the first run starts
this runner beside the local Prefect server (``reelflow server start`` does too): one process per
reelflow home that has imported all of it once and then forks a child per run. A later
``reelflow run`` (:func:`handoff`, standard library only) connects to it over a Unix socket in the
abstract namespace, passes its argv, working directory, environment and its stdin/stdout/stderr
(SCM_RIGHTS), and the child runs exactly what the command would have run in-process, writing to
the user's terminal. The child reports the exit code as soon as the command is done and finishes
Prefect's teardown in the background, no longer attached to the terminal.

Guarantees:
- Same behaviour as in-process: the child runs ``cli.main`` with the caller's argv, cwd and
  environment; Ctrl-C and SIGTERM of the caller are forwarded to the child; if the caller dies,
  the child gets SIGTERM (as an in-process job would die with its CLI).
- Never stale: the caller sends a fingerprint of the interpreter, the installed packages, the
  reelflow source files, the ffmpeg/ffprobe/espeak-ng binaries and every ``REELFLOW_*`` and
  ``PREFECT_*`` variable; a runner started under another fingerprint answers ``stale`` and
  exits, and the caller runs in-process (and starts a new runner for the next run).
- Only the same user: the peer's uid (SO_PEERCRED) must be the runner's.
- Bounded: one runner per home; it exits after ``REELFLOW_PREFECT__WARM_RUNNER_IDLE_S`` without
  a run, when its home disappears, on ``reelflow server stop`` (SIGTERM, which it forwards to
  running children), or when its code changes on disk. ``REELFLOW_PREFECT__WARM_RUNNER=false``
  turns it off. Its pid and counters are in ``<home>/warm-runner.json``, its log in
  ``<home>/warm-runner.log``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import select
import signal
import socket
import stat
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PRISTINE_ENV", "detach", "fingerprint", "handoff", "spawn", "status", "stop"]

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGES = ("cli", "flows", "tasks", "infra")
# The caller's environment before the CLI changed anything (it sets Prefect defaults and the local
# server's URL): what a runner must be started with, and what its fingerprint is taken of.
PRISTINE_ENV = dict(os.environ)
HEADER = struct.Struct("!I")
MAX_REQUEST = 4 << 20
HANDOFF_TIMEOUT_S = 30  # how long a caller waits for the runner to fork its run
REQUEST_S = 10.0  # how long the runner waits for a whole request
TEARDOWN_S = 60  # how long a child may drain Prefect's events after its command is done
OFF = ("0", "false", "no", "off")
# True in a process started by the console script (cli.entry): only a user's own command starts a
# runner, never a test's in-process CliRunner or the runner's children.
ENTRY = False


def enabled(env: dict[str, str]) -> bool:
    """The warm runner serves only the embedded default (no ``PREFECT_API_URL``) and can be off."""
    if env.get("PREFECT_API_URL"):
        return False
    return env.get("REELFLOW_PREFECT__WARM_RUNNER", "true").strip().lower() not in OFF


def home_of(env: dict[str, str]) -> Path:
    """The reelflow home as settings will read it (``REELFLOW_HOME`` or ``~/.reelflow``)."""
    raw = env.get("REELFLOW_HOME") or os.path.join(os.path.expanduser("~"), ".reelflow")
    return Path(os.path.abspath(raw))


def address(home: Path) -> bytes:
    """The runner's socket, in the abstract namespace (no file to leak, no path length limit)."""
    return b"\0reelflow-warm-" + hashlib.sha256(os.fsencode(home)).hexdigest()[:32].encode()


def _code_stamp() -> list[tuple[str, int, int]]:
    stamp = []
    for package in SOURCE_PACKAGES:
        for dirpath, dirnames, filenames in os.walk(ROOT / package):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    info = os.stat(os.path.join(dirpath, name))
                    stamp.append((os.path.join(dirpath, name), info.st_mtime_ns, info.st_size))
    return stamp


def _tools_stamp(env: dict[str, str]) -> list[object]:
    """The external tools a run calls (an upgraded ffmpeg has another version line)."""
    import shutil

    stamp: list[object] = []
    for key, default in (
        ("FFMPEG_BIN", "ffmpeg"),
        ("FFPROBE_BIN", "ffprobe"),
        ("ESPEAK_BIN", "espeak-ng"),
    ):
        found = shutil.which(env.get(f"REELFLOW_RENDER__{key}", default), path=env.get("PATH"))
        info = os.stat(found) if found else None
        stamp.append((found, info.st_mtime_ns if info else None, info.st_size if info else None))
    return stamp


def fingerprint(env: dict[str, str]) -> str:
    """What a warm process depends on: interpreter, installed packages, source, configuration."""
    import sysconfig

    digest = hashlib.sha256()
    site = sysconfig.get_paths()["purelib"]
    parts: list[object] = [sys.executable, sys.version, os.stat(site).st_mtime_ns, _code_stamp()]
    parts.append(_tools_stamp(env))
    parts += sorted(
        (k, v) for k, v in env.items() if k.startswith(("REELFLOW_", "PREFECT_")) or k == "HOME"
    )
    digest.update(json.dumps(parts, default=str).encode())
    return digest.hexdigest()


def _recv_line(sock: socket.socket, buffer: bytearray) -> str | None:
    while b"\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode()


# --- the caller's side (standard library only: it runs before anything heavy is imported) -------


def handoff(argv: list[str]) -> int | None:
    """Run ``reelflow ARGV`` in this home's warm runner: its exit code, or None to run in-process
    (not a ``run``, runner off or absent, or started under another configuration)."""
    if not argv or argv[0] != "run" or not enabled(dict(os.environ)):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(address(home_of(dict(os.environ))))
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        sock.close()
        return None
    if struct.unpack("3i", creds)[1] != os.getuid():  # another user squats the address
        sock.close()
        return None
    with sock:
        request = {
            "fingerprint": fingerprint(dict(os.environ)),
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
        }
        payload = json.dumps(request).encode()
        message = HEADER.pack(len(payload)) + payload
        sock.settimeout(HANDOFF_TIMEOUT_S)  # a runner that hangs must not hang the command
        try:
            sent = socket.send_fds(sock, [message], [0, 1, 2])
            sock.sendall(message[sent:])
            buffer = bytearray()
            first = _recv_line(sock, buffer)
        except OSError:  # (a timeout too: the runner kills a child whose caller has gone)
            return None
        if first is not None and first.startswith("exit "):  # (the runner holds a child back
            return int(first.split()[1])  # until "pid" is sent; never run a job twice anyway)
        if first is None or not first.startswith("pid "):
            return None  # "stale", or the runner went away before forking: run in-process
        sock.settimeout(None)
        child = int(first.split()[1])
        if child <= 1:  # never forward a signal to a process group or to init
            return None
        forward = _forward_signals(child)
        try:
            while True:
                try:
                    line = _recv_line(sock, buffer)
                except InterruptedError:
                    continue
                if line is None:
                    sys.stderr.write("internal_error: the warm runner ended without a result\n")
                    return 1
                if line.startswith("exit "):
                    with contextlib.suppress(OSError):
                        sock.sendall(b"bye\n")  # done: the child's teardown may go on
                    return int(line.split()[1])
        finally:
            for signum, previous in forward.items():
                signal.signal(signum, previous)


def _forward_signals(child: int) -> dict[int, signal._HANDLER]:
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    previous: dict[int, signal._HANDLER] = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        previous[signum] = signal.signal(signum, forward)
    return previous


# --- starting, stopping and reading the runner (the CLI's in-process side) -----------------------


def _state_file(home: Path) -> Path:
    return home / "warm-runner.json"


def private_home(home: Path) -> bool:
    """The home is a folder of this user's that not everyone can write to: the runner's state
    and log files there are trusted (a planted symlink would redirect its writes). Group-write
    is allowed (a private user group with umask 002 is common)."""
    try:
        info = os.stat(home)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o002


def spawn(home: Path, idle_s: float) -> None:
    """Start this home's runner in the background (it binds its socket once warm; a second one
    finds the socket taken and exits). Started with the caller's pristine environment."""
    import subprocess

    if not ENTRY or not enabled(PRISTINE_ENV) or home_of(PRISTINE_ENV) != home:
        return
    current = status(home)
    if current["running"] and current.get("fingerprint") == fingerprint(PRISTINE_ENV):
        return
    home.mkdir(parents=True, exist_ok=True)
    if not private_home(home):
        return
    env = {**PRISTINE_ENV, "REELFLOW_WARM_IDLE_S": str(idle_s)}
    log_fd = os.open(
        home / "warm-runner.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600
    )
    with os.fdopen(log_fd, "ab") as out:
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", "import cli.warm; cli.warm.main()"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the run that started it, like the local server
        )


def _is_runner(pid: int) -> bool:
    """The pid is a warm runner (a stale state file may name a pid reused by anything)."""
    try:
        return b"cli.warm" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def status(home: Path) -> dict[str, object]:
    from infra.prefect.server import pid_alive

    try:
        state = json.loads(_state_file(home).read_text())
    except (OSError, ValueError):
        return {"running": False}
    pid = state.get("pid") if isinstance(state, dict) else None
    if not isinstance(pid, int) or pid <= 1 or not pid_alive(pid) or not _is_runner(pid):
        return {"running": False}
    return {"running": True, **state}


def stop(home: Path, grace_s: float = 20.0) -> bool:
    """Stop this home's runner (its running children get SIGTERM); True if one was running."""
    state = status(home)
    if not state["running"]:
        return False
    pid = int(str(state["pid"]))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    from infra.prefect.server import pid_alive

    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _state_file(home).unlink(missing_ok=True)
    return True


_IMPORTED_API_URL = ""  # the local server's URL as Prefect read it when the runner imported it


def _local_server():  # noqa: ANN202 - LocalServer, imported late
    from infra.prefect.server import LocalServer
    from infra.settings import get_settings

    settings = get_settings()
    cfg = settings.prefect
    return LocalServer(settings.home, cfg.local_server_port, cfg.server_startup_timeout_s)


# --- a served child ---------------------------------------------------------------------------

_caller: socket.socket | None = None  # in a served child: the caller's connection, until detached


def detach(code: int) -> None:
    """In a served child: give the caller its exit code now and let go of its terminal (what is
    left is Prefect's teardown). A no-op in any other process, and after the first call."""
    global _caller
    conn, _caller = _caller, None
    if conn is None:
        return
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        conn.sendall(f"exit {code}\n".encode())
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.close(devnull)


# --- the runner --------------------------------------------------------------------------------


@dataclass
class _Run:
    conn: socket.socket | None  # None once the caller has said bye or gone
    child: int
    bye: bool = False
    done_at: float | None = None  # when the command finished (its teardown may go on)


@dataclass
class Handoff:
    """What a forked child runs: the command, on the caller's terminal, in its directory."""

    conn: socket.socket
    request: dict[str, object]
    fds: list[int]

    def run(self) -> int:
        for target, fd in enumerate(self.fds[:3]):
            os.dup2(fd, target)
        for fd in self.fds:
            os.close(fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace", write_through=True
        )
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace", write_through=True
        )
        env = self.request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(str(self.request["cwd"]))
        global _caller
        _caller = self.conn
        code = self._command([str(a) for a in self.request["argv"]])  # type: ignore[attr-defined]
        detach(code)  # if the command did not already: Prefect's teardown goes on off its terminal
        return code

    @staticmethod
    def _command(argv: list[str]) -> int:
        import random

        from prefect.context import refresh_global_settings_context

        import cli.common
        from cli.main import main
        from infra.settings import get_settings

        random.seed()  # not the runner's sequence, nor a sibling's
        for key, value in cli.common.PREFECT_DEFAULTS.items():
            os.environ.setdefault(key, value)
        get_settings.cache_clear()  # type: ignore[attr-defined]
        # Prefect's settings were read at import from this same configuration (the fingerprint)
        # and the local server's URL (warm_up): the command finds PREFECT_API_URL set once the
        # server is known to answer, with no 0.1 s settings refresh.
        with contextlib.suppress(Exception):  # the command itself reports a bad configuration
            url = _local_server().ensure()
            os.environ["PREFECT_API_URL"] = url
            if url != _IMPORTED_API_URL:
                refresh_global_settings_context()
        sys.argv = ["reelflow", *argv]
        try:
            main()
        except SystemExit as exc:
            if exc.code is None:
                return 0
            return exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:
            return 130
        except BaseException:  # noqa: BLE001 - reported like an in-process crash
            import traceback

            traceback.print_exc()
            return 1
        return 0


# What a document or media run imports: ours, and what Prefect, SQLAlchemy and Pillow import
# lazily during a flow run (found by listing the modules a served run still loaded: 0.5 s).
PRELOAD = (
    "cli.main",
    "flows.document_job",
    "flows.media_job",
    "infra.jobs.service",
    "infra.prefect.server",
    "infra.store.ledger",
    "infra.store.migrate",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect._internal.attempt_control",
    "prefect._internal.control_listener",
    "prefect._internal.metrics",
    "prefect._internal.retries",
    "prefect._internal.states",
    "prefect.concurrency.context",
    "prefect.concurrency.services",
    "prefect.concurrency.v1.context",
    "prefect.concurrency._sync",
    "prefect.concurrency._asyncio",
    "prefect.telemetry.run_telemetry",
    "prefect.utilities.visualization",
    "fastapi",
    "fastapi.encoders",
    "starlette.requests",
    "starlette.responses",
    "starlette.routing",
    "python_multipart.multipart",
    "opentelemetry.metrics",
    "opentelemetry._logs",
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "http.cookies",
    "encodings.idna",
    "encodings.utf_8_sig",
    "pydantic.color",
    "rich.status",
    "rich._emoji_codes",
    "typer._click.decorators",
)


class Runner:
    def __init__(self, home: Path, idle_s: float) -> None:
        self.home = home
        self.idle_s = idle_s
        self.pid = os.getpid()
        self.env = dict(os.environ)  # before the imports: cli.common adds Prefect's defaults
        self.fingerprint = fingerprint(self.env)
        self.runs: dict[int, _Run] = {}  # by child pid
        self.served = 0
        self.stopping = False
        self.refused = 0
        self.refused_logged = -math.inf

    def log(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} warm runner {self.pid}: {message}\n"
        sys.stdout.write(line)  # stdout is the runner's log file
        sys.stdout.flush()

    @staticmethod
    def warm_up() -> None:
        """Import what a run imports, before any thread or connection exists (we fork)."""
        import importlib
        import threading

        import PIL.Image

        global _IMPORTED_API_URL
        _IMPORTED_API_URL = os.environ["PREFECT_API_URL"] = _local_server().api_url
        for name in PRELOAD:
            with contextlib.suppress(ImportError):  # a newer Prefect may have moved one
                importlib.import_module(name)
        PIL.Image.init()  # every image plugin, as drawing the slides loads them
        # The tools' version lines every manifest records (cached per process; 0.1 s a run).
        from infra.media.ffprobe import tool_version
        from infra.settings import get_settings

        render = get_settings().render
        for binary in (render.ffmpeg_bin, render.espeak_bin):
            tool_version(binary)
        get_settings.cache_clear()  # type: ignore[attr-defined]
        if threading.active_count() != 1:
            raise RuntimeError(f"{threading.active_count()} threads after the imports: cannot fork")

    def write_state(self) -> None:
        state = {
            "pid": self.pid,
            "fingerprint": self.fingerprint,
            "served": self.served,
            "children": sorted(self.runs),
            "log": str(self.home / "warm-runner.log"),
        }
        tmp = _state_file(self.home).with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(state))
        tmp.replace(_state_file(self.home))

    def serve(self) -> Handoff | None:
        """Serve until idle or stopped; returns in a forked child with what it must run."""
        if not private_home(self.home):
            self.log(f"{self.home} is not a folder of this user's alone; not serving it")
            return None
        self.warm_up()  # first: the socket is bound only once a run can be served at once
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 30
        while True:
            current = status(self.home)
            if current["running"] and current.get("fingerprint") == self.fingerprint:
                self.log(f"runner {current['pid']} serves this home already; exiting")
                return None
            try:
                listener.bind(address(self.home))
                break
            except OSError:  # a runner for another configuration: ask it to retire
                self._retire_holder()
                if time.monotonic() > deadline:
                    self.log("the socket stays taken; exiting")
                    return None
                time.sleep(0.5)
        listener.listen(16)
        signal.signal(signal.SIGTERM, self._on_term)
        self.write_state()
        self.log(f"ready for {self.home} after {time.process_time():.1f} s of CPU")
        last_activity = time.monotonic()
        code_check = time.monotonic()
        try:
            while not (self.stopping and not self.runs):
                readers = [r.conn for r in self.runs.values() if r.conn is not None]
                if not self.stopping:
                    readers.append(listener)
                try:
                    ready, _, _ = select.select(readers, [], [], 1.0)
                except InterruptedError:
                    ready = []
                for sock in ready:
                    if sock is listener:
                        handoff = self._accept(listener)
                        if handoff is not None:
                            return handoff  # the child
                        last_activity = time.monotonic()
                    else:
                        self._client_readable(sock)
                self._reap()
                now = time.monotonic()
                for run in self.runs.values():  # a teardown that hangs must not keep us forever
                    if run.done_at is not None and now - run.done_at > TEARDOWN_S:
                        self.log(f"child {run.child} still tearing down after {TEARDOWN_S} s")
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(run.child, signal.SIGKILL)
                        run.done_at = None
                if self.runs:
                    last_activity = now
                if not self.stopping and now - last_activity > self.idle_s:
                    self.log(f"idle for {self.idle_s:.0f} s; exiting")
                    self.stopping = True
                if not self.stopping and not self.home.is_dir():
                    self.log("home removed; exiting")
                    self.stopping = True
                if not self.stopping and now - code_check > 5:
                    code_check = now
                    if fingerprint(self.env) != self.fingerprint:
                        self.log("code or packages changed on disk; exiting")
                        self.stopping = True
                if self.stopping:
                    listener.close()
        finally:
            if os.getpid() == self.pid:
                listener.close()
                with contextlib.suppress(OSError, ValueError):
                    if json.loads(_state_file(self.home).read_text())["pid"] == self.pid:
                        _state_file(self.home).unlink()
        self.log(f"stopped after {self.served} runs")
        return None

    def _retire_holder(self) -> None:
        payload = json.dumps({"retire": True, "fingerprint": self.fingerprint}).encode()
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(address(self.home))
            sock.sendall(HEADER.pack(len(payload)) + payload)
            sock.recv(16)

    def _on_term(self, _signum: int, _frame: object) -> None:
        self.stopping = True
        for run in self.runs.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.child, signal.SIGTERM)

    def _accept(self, listener: socket.socket) -> Handoff | None:
        conn, _ = listener.accept()
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid():
            self.refused += 1
            if time.monotonic() - self.refused_logged > 60:  # another user's flood: one line
                self.refused_logged = time.monotonic()  # a minute, not one per connection
                self.log(f"refused a connection from uid {uid} ({self.refused} so far)")
            conn.close()
            return None
        try:
            request, fds = self._receive(conn)
        except Exception as exc:  # noqa: BLE001 - a hostile request (even a RecursionError)
            self.log(f"bad request: {type(exc).__name__}: {str(exc)[:200]}")
            conn.close()
            return None
        env = request.get("env")
        served = request.get("fingerprint")  # the caller's code and packages (its checkout)
        if served == self.fingerprint and isinstance(env, dict):
            try:  # and the environment that will run, computed here, not the caller's word
                served = fingerprint(env)
            except Exception as exc:  # noqa: BLE001 - a hostile environment must not end us
                self.log(f"bad request: {type(exc).__name__}: {str(exc)[:200]}")
                served = None
        if served != self.fingerprint:
            with contextlib.suppress(OSError):
                conn.sendall(b"stale\n")
            self._drop(conn, fds)
            who = "a runner" if request.get("retire") else "a caller"
            self.log(f"{who} with another configuration or code: stale; exiting when idle")
            self.stopping = True
            return None
        if request.get("retire"):  # same configuration: nothing to hand over
            self._drop(conn, fds)
            return None
        try:
            return self._fork(listener, conn, request, fds)
        except Exception as exc:  # noqa: BLE001 - fork refused (EAGAIN), disk full: serve on
            if os.getpid() != self.pid:  # never a second runner: a child that failed ends
                os._exit(1)
            self.log(f"could not serve a run: {type(exc).__name__}: {str(exc)[:200]}")
            return None

    def _fork(
        self,
        listener: socket.socket,
        conn: socket.socket,
        request: dict[str, object],
        fds: list[int],
    ) -> Handoff | None:
        """Fork the run's child; it starts only once its caller has its pid (a "go" byte)."""
        try:
            go_read, go_write = os.pipe()
        except OSError:
            self._drop(conn, fds)
            raise
        # No SIGTERM between the fork and the child's own handler: the runner's would signal
        # every sibling run from inside the child.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            child = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            for fd in (go_read, go_write):
                os.close(fd)
            self._drop(conn, fds)
            raise
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            listener.close()
            for run in self.runs.values():
                if run.conn is not None:
                    run.conn.close()
            os.close(go_write)
            go = os.read(go_read, 1)
            os.close(go_read)
            if not go:  # no "go": the caller never got the pid and runs the job itself
                os._exit(0)
            conn.settimeout(None)
            return Handoff(conn, request, fds)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        os.close(go_read)
        for fd in fds:
            os.close(fd)
        self.served += 1
        self.runs[child] = _Run(conn, child)
        try:
            conn.sendall(f"pid {child}\n".encode())
            os.write(go_write, b"g")
        except OSError:
            pass  # no caller, or no child: closing the pipe unwritten ends the child unrun
        finally:
            os.close(go_write)
        conn.setblocking(False)
        self.write_state()
        return None

    @staticmethod
    def _drop(conn: socket.socket, fds: list[int]) -> None:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        conn.close()

    @staticmethod
    def _receive(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
        """One request, whole within REQUEST_S (a caller trickling bytes cannot hold the runner,
        which serves one connection at a time), with its three descriptors."""
        deadline = time.monotonic() + REQUEST_S
        conn.settimeout(REQUEST_S)
        data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
        buffer = bytearray(data)

        def more() -> None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"request not complete after {REQUEST_S:g} s")
            conn.settimeout(left)
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("short request")
            buffer.extend(chunk)

        try:
            while len(buffer) < HEADER.size:
                more()
            (size,) = HEADER.unpack_from(buffer)
            if size > MAX_REQUEST:
                raise ValueError(f"request of {size} bytes")
            while len(buffer) < HEADER.size + size:
                more()
            request = json.loads(bytes(buffer[HEADER.size : HEADER.size + size]))
            if not isinstance(request, dict):
                raise ValueError("not a request")
            if request.get("retire"):  # a runner for another configuration takes over
                return request, list(fds)
            argv = request.get("argv")
            if not isinstance(argv, list) or not argv or argv[0] != "run":
                raise ValueError("only `reelflow run` is served")
            env = request.get("env")
            if not isinstance(env, dict) or not isinstance(request.get("cwd"), str):
                raise ValueError("not a request")
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
                raise ValueError("the environment holds a value that is not a string")
            if not all(isinstance(a, str) for a in argv):
                raise ValueError("an argument is not a string")
            if len(fds) != 3:
                raise ValueError(f"expected stdin, stdout and stderr, got {len(fds)} descriptors")
        except Exception:
            for fd in fds:
                os.close(fd)
            raise
        return request, list(fds)

    def _client_readable(self, conn: socket.socket) -> None:
        run = next(r for r in self.runs.values() if r.conn is conn)
        try:
            data = conn.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data.startswith(b"bye"):
            run.bye = True
            run.done_at = time.monotonic()
        if not data and not run.bye:  # the caller died: its job dies with it, as in-process
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.child, signal.SIGTERM)
            run.done_at = time.monotonic()  # and is killed after TEARDOWN_S if it lingers
        if not data or run.bye:  # nothing more to read; the child is reaped in _reap
            conn.close()
            run.conn = None

    def _reap(self) -> None:
        while self.runs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.runs.pop(pid, None)
            if run is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            if run.conn is not None:  # the caller still waits: the child died before saying
                with contextlib.suppress(OSError):
                    run.conn.setblocking(True)
                    run.conn.sendall(f"exit {code}\n".encode())
                run.conn.close()
            self.write_state()


def main() -> None:
    home = home_of(dict(os.environ))
    idle_s = float(os.environ.pop("REELFLOW_WARM_IDLE_S", "1800"))
    handoff = Runner(home, idle_s).serve()
    if handoff is not None:  # in a forked child: the interpreter's own exit runs Prefect's drains
        sys.exit(handoff.run())
