"""The layer rules, enforced on the import statements of every module (import-linter's job, in a
test): flows -> tasks -> infra; nothing in infra imports flows, tasks or cli; nothing in tasks
imports flows or cli; only cli (the composition root) imports flows; the gateway (infra/api)
never imports a flow."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.tools import ROOT

# package -> packages it must never import
FORBIDDEN = {
    "infra": {"flows", "tasks", "cli"},
    "tasks": {"flows", "cli"},
    "flows": {"cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_imports_a_layer_above_it():
    broken = []
    checked = 0
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            checked += 1
            for name in sorted(_imports(path) & forbidden):
                broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert checked > 50
    assert broken == []


def test_only_the_composition_root_imports_flows():
    importers = {
        path.relative_to(ROOT).parts[0]
        for package in ("cli", "flows", "tasks", "infra")
        for path in (ROOT / package).rglob("*.py")
        if "flows" in _imports(path) and path.relative_to(ROOT).parts[0] != "flows"
    }
    assert importers <= {"cli"}
