"""Scale-out's log lines keep their figures: no field of a log call in the cluster code is
named like a secret, which the log masker would print as ``***`` (a fencing token logged as
``token=`` said nothing about which holder acted)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from breakglass.logs import redact

pytestmark = pytest.mark.unit

SRC = Path(__file__).parents[2] / "src" / "breakglass"
FILES = [
    *sorted((SRC / "cluster").glob("*.py")),
    SRC / "runtime" / "scaleout.py",
    SRC / "runtime" / "fleet.py",
]
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def _masked_fields(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LEVELS or not isinstance(node.func.value, ast.Name):
            continue
        for keyword in node.keywords:
            if keyword.arg and redact(None, "", {keyword.arg: 1})[keyword.arg] != 1:
                found.append(f"{path.name}:{node.lineno} {keyword.arg}=")
    return found


def test_no_cluster_log_field_is_masked() -> None:
    assert [masked for path in FILES for masked in _masked_fields(path)] == []


def test_the_check_finds_a_masked_field(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("_log.warning('cluster.leading', key=k, token=5, fence=5)\n")
    assert _masked_fields(sample) == ["sample.py:1 token="]
