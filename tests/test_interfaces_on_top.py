"""Stages never import the interfaces built on them (the API, the dashboard, the CLI): what
a stage needs of them lives in webcore or in the stage itself. The walk is over the source
(``ast``), so an import inside a function counts as much as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).parents[1] / "src" / "breakglass"
INTERFACES = ("breakglass.api", "breakglass.web", "breakglass.cli")
ON_TOP = {"api", "web", "cli", "runtime", "demo", "server.py", "__main__.py"}
"""The interfaces themselves and what composes them."""


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_stage_imports_an_interface() -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] not in ON_TOP
        for module in sorted(_imports(path))
        if any(module == i or module.startswith(i + ".") for i in INTERFACES)
    ]
    assert offenders == []
