"""The test tiers: every tier marker is registered, a unit test cannot start anvil, and a
test module that starts anvil itself (not through the ``anvil`` fixture) is marked chain."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from breakglass.devchain import Anvil
from breakglass.errors import DevchainError

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("unit", "chain", "postgres", "nats", "browser", "e2e")
# Calls that start an anvil chain without the `anvil` fixture.
STARTS_ANVIL = re.compile(
    r'Anvil\.start\(|run_demo\(|run_service\(|"breakglass", "demo"|"playbook", "run"'
)


def test_every_tier_is_registered() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    registered = {line.split(":")[0] for line in options["ini_options"]["markers"]}
    assert set(TIERS) <= registered


def test_a_unit_test_cannot_start_anvil(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    with pytest.raises(DevchainError, match="mark-the-test-chain"):
        Anvil.start()


@pytest.mark.parametrize(
    "module",
    sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if STARTS_ANVIL.search(path.read_text(encoding="utf-8")) and path.name != "test_tiers.py"
    ),
)
def test_modules_that_start_anvil_are_marked_chain(module: str) -> None:
    text = (ROOT / module).read_text(encoding="utf-8")
    assert "pytest.mark.chain" in text, f"{module} starts anvil: mark its tests chain"
