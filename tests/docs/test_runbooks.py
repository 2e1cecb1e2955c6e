"""docs/RUNBOOKS.md has a section for every alert and every error code, each saying what it
means, how to confirm it and what to do; its links resolve, and its PromQL runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.errors import ERROR_CODES
from infra.metrics import METRIC_NAMES
from tests.infra.deploy.monitoring import RULES, alerts, unknown_names
from tests.support.prometheus import running_prometheus, serving_metrics
from tests.support.sample_metrics import populated_metrics
from tests.support.tools import ROOT

RUNBOOKS = ROOT / "docs" / "RUNBOOKS.md"
PARTS = ("**Means.**", "**Confirm.**", "**Do.**")
HEADING = re.compile(r"^(#{2,3}) (.+)$", re.M)
QUERY = re.compile(r"\bq '([^']+)'")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def sections() -> dict[str, tuple[str, str]]:
    """slug -> (the ## part it is in, its text) for every ### heading."""
    text = RUNBOOKS.read_text()
    found: dict[str, tuple[str, str]] = {}
    part = ""
    matches = list(HEADING.finditer(text))
    for i, match in enumerate(matches):
        level, title = match.groups()
        if level == "##":
            part = title
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        anchor = slug(title)
        assert anchor not in found, f"two sections named {title}"
        found[anchor] = (part, text[match.end() : end])
    return found


def test_every_alert_has_a_section_at_its_runbook_url():
    found = sections()
    for name, rule in alerts().items():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in found, f"alert {name}: no section #{anchor} in docs/RUNBOOKS.md"
        assert found[anchor][0] == "Alerts", name


def test_every_error_code_has_a_section():
    found = sections()
    missing = [code for code in ERROR_CODES if code not in found]
    assert missing == [], "error codes without a runbook section"
    assert all(found[code][0].startswith("Error codes") for code in ERROR_CODES)


def test_no_section_for_what_does_not_exist():
    expected = {name.lower() for name in alerts()} | set(ERROR_CODES)
    assert set(sections()) - expected == set()


def test_every_section_means_confirms_and_does():
    for anchor, (_, body) in sections().items():
        for part in PARTS:
            assert part in body, f"#{anchor} lacks {part}"
        confirm = body.split("**Confirm.**", 1)[1].split("**Do.**", 1)[0]
        assert "`" in confirm, f"#{anchor}: Confirm has no command"


def test_links_to_sections_resolve():
    found = sections()
    links = re.findall(r"\]\(#([^)]+)\)", RUNBOOKS.read_text())
    assert links
    assert [link for link in links if link not in found] == []


def test_queries_read_only_metrics_that_exist():
    for expr in QUERY.findall(RUNBOOKS.read_text()):
        assert unknown_names(expr, METRIC_NAMES) == set(), expr


@pytest.mark.prometheus
def test_every_query_runs_on_a_real_prometheus(tmp_path: Path):
    """The PromQL an operator pastes at 3 a.m. parses and evaluates (error-code placeholders are
    filled in with a real code)."""
    queries = [q.replace('"CODE"', '"ffmpeg_failed"') for q in QUERY.findall(RUNBOOKS.read_text())]
    assert len(queries) > 30
    metrics = populated_metrics(tmp_path)
    with (
        serving_metrics(metrics.render) as target,
        running_prometheus({"reelflow-gateway": [target]}, rule_files=[RULES]) as prom,
    ):
        prom.wait_for_targets("reelflow-gateway", scrapes=2)
        for expr in queries:
            prom.query(expr)  # fails the test on a parse or evaluation error
