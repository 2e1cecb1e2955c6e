"""The warm runner (cli/warm.py): a later `reelflow run` on the embedded default is forked from a
process that has imported Prefect and the flows once, and behaves exactly as the in-process run
would — output, exit codes, signals, a caller that dies — and is never served stale or to another
user. Everything through the installed console script, a real local Prefect server and ffmpeg."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli import warm
from infra.store.ledger import JobLedger
from tests.support.media_clips import av_clip
from tests.support.tools import ROOT, free_port
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.media, pytest.mark.prefect, pytest.mark.timeout(600)]

REELFLOW = str(Path(sys.executable).with_name("reelflow"))


@dataclass
class Home:
    path: Path
    env: dict[str, str]

    def reelflow(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [REELFLOW, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=ROOT,
        )

    def runner(self) -> dict[str, object]:
        return warm.status(self.path)

    def ready(self) -> dict[str, object]:
        """The runner serving this home's configuration (started by ``server start`` if none)."""
        self.reelflow("server", "start")
        expected = warm.fingerprint(self.env)
        return wait_until(
            lambda: (s := self.runner())["running"] and s["fingerprint"] == expected and s,
            120,
            "the warm runner to be ready",
            poll=0.2,
        )

    def ledger(self) -> JobLedger:
        return JobLedger(f"sqlite:///{self.path / 'ledger.db'}")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    base = tmp_path_factory.mktemp("warm")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REELFLOW_"))}
    env.update(
        REELFLOW_HOME=str(base / "home"),
        PREFECT_HOME=str(base / "prefect"),
        REELFLOW_PREFECT__LOCAL_SERVER_PORT=str(free_port()),
        REELFLOW_INPUT__ROOTS=str(base),
    )
    home = Home(base / "home", env)
    try:
        yield home
    finally:
        home.reelflow("server", "stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _long_document(folder: Path) -> Path:
    text = "\n\n".join(
        f"# Part {i}\n\n"
        + " ".join(f"Sentence {j} of part {i} says something useful." for j in range(8))
        for i in range(12)
    )
    path = folder / "long.md"
    path.write_text(text)
    return path


def test_a_later_run_is_forked_warm_and_prints_what_an_in_process_run_prints(home: Home):
    sample = str(ROOT / "samples" / "sample.md")
    cold = home.reelflow("run", sample, "--preset", "tiny")
    assert cold.returncode == 0, cold.stdout + cold.stderr
    served = int(home.ready()["served"])  # type: ignore[call-overload]

    warm_run = home.reelflow("run", sample, "--preset", "tiny")

    assert warm_run.returncode == 0, warm_run.stdout + warm_run.stderr
    assert home.runner()["served"] == served + 1
    assert "state SUCCEEDED (Prefect: Completed)" in warm_run.stdout
    names = lambda out: [line.split()[0] for line in out.splitlines() if "file://" in line]  # noqa: E731
    assert names(warm_run.stdout) == names(cold.stdout)
    job_id = warm_run.stdout.split()[1]
    job = home.ledger().get(job_id)
    assert job is not None and job.status == "SUCCEEDED"
    shown = home.reelflow("show", job_id)
    assert json.loads(shown.stdout)["status"] == "SUCCEEDED"


def test_a_refusal_keeps_its_code_and_exit_status(home: Home):
    served = int(home.ready()["served"])  # type: ignore[call-overload]

    refused = home.reelflow("run", str(home.path / "missing.md"))

    assert refused.returncode == 2
    assert refused.stderr.startswith("input_invalid: "), refused.stderr
    assert home.runner()["served"] == served + 1


@pytest.mark.parametrize(
    ("kind", "how"),
    [("document", signal.SIGINT), ("document", signal.SIGKILL), ("media", signal.SIGINT)],
    ids=["ctrl-c", "caller-killed", "ctrl-c-media"],
)
def test_a_signal_to_the_caller_reaches_its_job(home: Home, kind: str, how: signal.Signals):
    """Ctrl-C is forwarded to the child; a caller killed outright takes its job with it (the
    runner sees the socket close and sends SIGTERM), as an in-process job dies with its CLI. The
    job ends FAILED or CANCELED, never left RUNNING: a media run called in-process has no
    deployment, so its crash is not left for the reaper to run again."""
    home.ready()
    if kind == "media":
        source = av_clip(home.path.parent / "long.mp4", size="640x360", seconds=20.0)
        stage = "encode"
    else:
        source, stage = _long_document(home.path.parent), "render"
    job_id = f"warm-{kind}-{how.name.lower()}"
    caller = subprocess.Popen(
        [REELFLOW, "run", str(source), "--preset", "tiny", "--job-id", job_id],
        env=home.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        child = wait_until(
            lambda: (c := home.runner().get("children")) and c[0], 60, "the run to be forked"
        )
        ledger = home.ledger()
        wait_until(
            lambda: (j := ledger.get(job_id)) is not None and j.stage == stage,
            120,
            f"the job to reach its {stage} stage",
        )
        caller.send_signal(how)
        out, err = caller.communicate(timeout=120)
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.communicate()
    # Ctrl-C reached the child: Prefect reports the run Crashed ("aborted by an interrupt signal")
    # and the command says so and exits 1 (the job ran and failed), or, interrupted before its
    # report, 130 as a shell shows it. A caller that did not forward it would die of it: -2.
    expected = (1, 130) if how == signal.SIGINT else (-signal.SIGKILL,)
    assert caller.returncode in expected, (caller.returncode, out, err)
    wait_until(lambda: not _alive(int(child)), 120, f"the job's process {child} to end")
    final = wait_until(
        lambda: (j := ledger.get(job_id)) and j.status in ("FAILED", "CANCELED") and j,
        30,
        "the job to end FAILED or CANCELED",
    )
    assert final.status in ("FAILED", "CANCELED")
    assert home.runner()["running"]  # the runner itself lives on


def test_another_user_is_refused(home: Home):
    home.ready()
    probe = (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        f"s.connect({warm.address(home.path)!r})\n"
        "try:\n"
        "    socket.send_fds(s, [b'\\0\\0\\0\\2{}'], [0, 1, 2])\n"
        "    print('closed' if s.recv(100) == b'' else 'answered')\n"
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    print('closed')\n"
    )
    if os.getuid() != 0:
        pytest.fail("this test runs as root (as CI does): it connects as user nobody")
    done = subprocess.run(
        ["/usr/bin/python3", "-c", probe], user=65534, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed"  # without a word: no fork, no "pid"
    assert "refused a connection from uid 65534" in (home.path / "warm-runner.log").read_text()


def test_only_run_is_served(home: Home):
    home.ready()
    request = json.dumps({"fingerprint": warm.fingerprint(home.env), "argv": ["cleanup"],
                          "cwd": "/", "env": home.env}).encode()  # fmt: skip
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(warm.address(home.path))
        socket.send_fds(sock, [warm.HEADER.pack(len(request)) + request], [0, 1, 2])
        assert sock.recv(100) == b""
    assert "only `reelflow run` is served" in (home.path / "warm-runner.log").read_text()


def test_another_configuration_is_never_served_stale(home: Home):
    old = home.ready()

    changed = home.reelflow(
        "run", str(ROOT / "samples" / "sample.md"), "--preset", "tiny",
        REELFLOW_RENDER__FFMPEG_THREADS="1",
    )  # fmt: skip

    assert changed.returncode == 0, changed.stdout + changed.stderr
    wait_until(lambda: not _alive(int(old["pid"])), 60, "the stale runner to exit")  # type: ignore[call-overload]
    assert "stale; exiting when idle" in (home.path / "warm-runner.log").read_text()
    # The in-process run started a runner for its own configuration.
    new_env = {**home.env, "REELFLOW_RENDER__FFMPEG_THREADS": "1"}
    wait_until(
        lambda: (s := home.runner())["running"] and s["fingerprint"] == warm.fingerprint(new_env),
        120,
        "a runner for the new configuration",
        poll=0.2,
    )


def test_server_stop_stops_the_runner(home: Home):
    pid = int(home.ready()["pid"])  # type: ignore[call-overload]

    stopped = home.reelflow("server", "stop")

    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not _alive(pid)
    status = json.loads(home.reelflow("server", "status").stdout)
    assert not status["running"] and not status["warm_runner"]["running"]


def test_a_forged_fingerprint_does_not_get_another_configuration_served(home: Home):
    """The runner fingerprints the environment it would run with, not the caller's word for it."""
    home.ready()
    env = {**home.env, "REELFLOW_RENDER__FFMPEG_THREADS": "1"}
    request = json.dumps({"fingerprint": warm.fingerprint(home.env),
                          "argv": ["run", str(ROOT / "samples" / "sample.md")],
                          "cwd": str(ROOT), "env": env}).encode()  # fmt: skip
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(warm.address(home.path))
        socket.send_fds(sock, [warm.HEADER.pack(len(request)) + request], [0, 1, 2])
        assert sock.recv(100) == b"stale\n"


def test_a_caller_trickling_its_request_is_cut_off(home: Home):
    """One connection at a time: a request must be whole within REQUEST_S, however it trickles."""
    home.ready()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(warm.address(home.path))
        socket.send_fds(sock, [warm.HEADER.pack(1000)], [0, 1, 2])  # then 1000 bytes, slowly
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < warm.REQUEST_S + 20 and not closed:
            time.sleep(1)
            try:
                sock.sendall(b" ")  # one byte a second: each recv alone is quick
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        assert closed, "the runner waited for the trickle beyond its request deadline"
    assert "bad request: TimeoutError" in (home.path / "warm-runner.log").read_text()
    served = home.reelflow("run", str(ROOT / "samples" / "sample.md"), "--preset", "tiny")
    assert served.returncode == 0, served.stdout + served.stderr


def test_a_child_done_before_its_pid_line_is_never_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A runner answering "exit N" first (the child ran): the caller takes N, not an in-process
    second run of the same job."""
    home_dir = tmp_path / "home"
    home_dir.mkdir()
    monkeypatch.setenv("REELFLOW_HOME", str(home_dir))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("REELFLOW_PREFECT__WARM_RUNNER", raising=False)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(warm.address(home_dir))
        listener.listen(1)

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                _data, fds, _f, _a = socket.recv_fds(conn, 1 << 20, 3)
                for fd in fds:
                    os.close(fd)
                conn.sendall(b"exit 7\n")
                conn.recv(16)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        assert warm.handoff(["run", "anything.md"]) == 7
        thread.join(10)


def test_a_home_others_can_write_to_is_not_served(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REELFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", "import cli.warm; cli.warm.main()"],
        env={**env, "REELFLOW_HOME": str(shared)}, cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "not a folder of this user's alone" in done.stdout
    assert not (shared / "warm-runner.json").exists()


def test_an_environment_of_non_strings_is_refused_and_the_runner_lives(home: Home):
    pid = int(home.ready()["pid"])  # type: ignore[call-overload]
    request = json.dumps({"fingerprint": "x", "argv": ["run", "a.md"], "cwd": "/",
                          "env": {**home.env, "PATH": 1}}).encode()  # fmt: skip
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(warm.address(home.path))
        socket.send_fds(sock, [warm.HEADER.pack(len(request)) + request], [0, 1, 2])
        assert sock.recv(100) == b""
    assert "not a string" in (home.path / "warm-runner.log").read_text()
    assert _alive(pid) and home.runner()["running"]


def test_a_caller_from_another_checkout_is_not_served(home: Home):
    """The caller's fingerprint (its interpreter, packages and source) must match as well as the
    environment the runner computes one from: another checkout sharing the home runs its own."""
    home.ready()
    request = json.dumps({"fingerprint": "another-checkout", "argv": ["run", "a.md"],
                          "cwd": str(ROOT), "env": home.env}).encode()  # fmt: skip
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(warm.address(home.path))
        socket.send_fds(sock, [warm.HEADER.pack(len(request)) + request], [0, 1, 2])
        assert sock.recv(100) == b"stale\n"
