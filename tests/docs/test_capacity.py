"""docs/CAPACITY.md stays true to its tools: every flag it runs exists, its profile table is
the code's, and no figure is left as a placeholder."""

from __future__ import annotations

import re
import subprocess
import sys

from infra.loadtest import PROFILES
from tests.support.tools import ROOT

DOC = ROOT / "docs" / "CAPACITY.md"


def test_every_capacity_flag_in_the_doc_exists():
    helped = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "capacity.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    text = DOC.read_text()
    commands = re.findall(r"capacity\.py([^\n`]*(?:\\\n[^\n`]*)*)", text) + re.findall(
        r"^\$B([^\n]*)", text, re.M
    )
    used = {flag for command in commands for flag in re.findall(r"--[a-z-]+", command)}
    assert used, "the doc runs no capacity.py command"
    assert {flag for flag in used if flag not in helped} == set()


def test_profile_table_is_the_code():
    rows = re.findall(
        r"^\| (quick|standard|stress|scale) \| (\d+) \| (\d+) \|", DOC.read_text(), re.M
    )
    assert {name: (int(jobs), int(clients)) for name, jobs, clients in rows} == {
        p.name: (p.jobs, p.clients) for p in PROFILES.values()
    }


def test_no_placeholder_left():
    assert not re.search(r"\bTABLE_[A-Z]+\b|TODO|TBD", DOC.read_text())
