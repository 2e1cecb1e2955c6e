"""The cgroup reader (v1 and v2 layouts) and the container supervisor's exit and OOM report."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from infra.process.cgroup import memory_limit_bytes, oom_kills, oom_message, oom_report
from infra.process.supervise import report_oom, supervise


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cgroup_v2_in_a_container(tmp_path: Path):
    root = _tree(
        tmp_path / "cg",
        {"memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n", "memory.max": "67108864\n"},
    )
    proc = _tree(tmp_path, {"cgroup": "0::/\n"}) / "cgroup"
    assert oom_kills(root, proc) == 2
    assert memory_limit_bytes(root, proc) == 64 * 2**20


def test_cgroup_v2_on_a_host_follows_proc_self_cgroup(tmp_path: Path):
    root = _tree(
        tmp_path / "cg",
        {"memory.max": "max\n", "jobs/a/memory.events": "oom_kill 1\n", "jobs/a/memory.max": "max"},
    )
    proc = _tree(tmp_path, {"cgroup": "0::/jobs/a\n"}) / "cgroup"
    assert oom_kills(root, proc) == 1
    assert memory_limit_bytes(root, proc) is None  # "max" = no limit


def test_cgroup_v1(tmp_path: Path):
    root = _tree(
        tmp_path / "cg",
        {
            "memory/docker/x/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            "memory/docker/x/memory.limit_in_bytes": "134217728\n",
            "memory/memory.limit_in_bytes": "9223372036854771712\n",
        },
    )
    proc = _tree(tmp_path, {"cgroup": "12:pids:/docker/x\n4:memory:/docker/x\n"}) / "cgroup"
    assert oom_kills(root, proc) == 3
    assert memory_limit_bytes(root, proc) == 128 * 2**20
    unlimited = _tree(tmp_path, {"c2": "4:memory:/\n"}) / "c2"
    assert memory_limit_bytes(root, unlimited) is None  # v1's "no limit" is a huge number


def test_oom_report_only_for_a_memory_limited_cgroup(tmp_path: Path):
    """The crash hook trusts the counter only in a job container (a cgroup with a limit)."""
    proc = _tree(tmp_path, {"cgroup": "0::/\n"}) / "cgroup"
    limited = _tree(tmp_path / "a", {"memory.events": "oom_kill 1\n", "memory.max": "419430400"})
    report = oom_report(limited, proc)
    assert report is not None and report.startswith("[resource_limit_exceeded]")
    assert "400 MB" in report
    host = _tree(tmp_path / "b", {"memory.events": "oom_kill 9\n", "memory.max": "max"})
    assert oom_report(host, proc) is None  # every job's kills on a host: says nothing of this one
    calm = _tree(tmp_path / "c", {"memory.events": "oom_kill 0\n", "memory.max": "419430400"})
    assert oom_report(calm, proc) is None


def test_cgroup_unknown_is_none(tmp_path: Path):
    assert oom_kills(tmp_path / "none", tmp_path / "none") is None
    assert memory_limit_bytes(tmp_path / "none", tmp_path / "none") is None


@pytest.mark.parametrize(
    ("code", "expected"), [("raise SystemExit(0)", 0), ("raise SystemExit(3)", 3)]
)
def test_supervisor_passes_the_exit_status_through(code: str, expected: int):
    assert supervise([sys.executable, "-c", code], env={}) == expected


def test_supervisor_reports_death_by_signal_the_shell_way():
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert supervise([sys.executable, "-c", kill], env={}) == 128 + signal.SIGKILL


def test_supervisor_raises_the_childs_oom_score():
    read = "import sys; sys.exit(int(open('/proc/self/oom_score_adj').read()) // 100)"
    assert supervise([sys.executable, "-c", read], env={}) == 10  # 1000: the job dies first


@pytest.mark.prefect
def test_oom_report_fails_the_flow_run_with_its_code(prefect_server: str):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    @flow(name="oom-fixture")
    def fixture_flow() -> None:
        return None

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(fixture_flow)
        client.set_flow_run_state(run.id, Running(), force=True)
        env = {"PREFECT_API_URL": prefect_server, "PREFECT__FLOW_RUN_ID": str(run.id)}
        assert report_oom(env, oom_message(64 * 2**20, 1))
        state = client.read_flow_run(run.id).state
    assert state.name == "Failed"
    assert state.message.startswith("[resource_limit_exceeded]") and "64 MB" in state.message
    assert not report_oom({"PREFECT_API_URL": prefect_server}, "x")  # no run id: nothing to do
