"""Third-party rules load through the ``breakglass.rules`` entry-point group.

No distribution is installed: ``entry_points`` is replaced by one that names a module under
``tests/fixtures/plugin/``, which is put on ``sys.path``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from breakglass.cli.rules import app as rules_app
from breakglass.detect import Detector, build_rules, load_plugins, registered_rules
from breakglass.detect import rule as rule_module
from breakglass.detect.plancheck import RuleParamsCheck
from breakglass.ingest.events import BlockAdded, BlockHeader
from breakglass.plan import load_plan
from breakglass.plan.checks import CheckContext, CheckStatus

ROOT = Path(__file__).parents[2]
PLUGIN_DIR = ROOT / "tests" / "fixtures" / "plugin"
MODULE = "breakglass_fixture_plugin"
VAULT = "0x" + "77" * 20


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The fixture plugin advertised under ``breakglass.rules``; calls to entry_points."""
    calls: list[str] = []
    entry = EntryPoint(name="fixture", value=MODULE, group="breakglass.rules")

    def entry_points(*, group: str) -> list[EntryPoint]:
        calls.append(group)
        return [entry] if group == "breakglass.rules" else []

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.setattr(rule_module, "entry_points", entry_points)
    saved = dict(rule_module._REGISTRY)
    try:
        yield calls
    finally:
        rule_module._REGISTRY.clear()
        rule_module._REGISTRY.update(saved)
        sys.modules.pop(MODULE, None)


def write_plan(tmp_path: Path, params: str = "{at_least: 5}") -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "protocol: T\n"
        "chains:\n"
        '  mainnet: {chain_id: 1, rpc: ["https://rpc.example"]}\n'
        "contracts:\n"
        f'  vault: {{chain: mainnet, address: "{VAULT}"}}\n'
        "rules:\n"
        f"  - {{id: vault-ping, rule: fixture-ping, contracts: [vault], params: {params}}}\n",
        encoding="utf-8",
    )
    return path


def ping_log(value: int) -> dict[str, object]:
    return {
        "address": VAULT,
        "topics": ["0x" + keccak(text="Ping(uint256)").hex()],
        "data": "0x" + value.to_bytes(32, "big").hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "ab" * 32,
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": "0x0",
    }


def test_load_plugins_registers_the_plugin_rule(plugin: list[str]) -> None:
    assert "fixture-ping" not in registered_rules()
    assert load_plugins() == ["fixture-ping"]
    assert plugin == ["breakglass.rules"]
    assert registered_rules()["fixture-ping"].category == "fixture"
    assert load_plugins() == []  # already imported: nothing new, no duplicate-id error


def test_a_plugin_rule_builds_from_the_plan_and_finds(plugin: list[str], tmp_path: Path) -> None:
    load_plugins()
    (rule,) = build_rules(load_plan(write_plan(tmp_path)), chain="mainnet")
    detector = Detector("mainnet", [rule])
    header = BlockHeader(16, "0x" + "ab" * 32, "0x" + "00" * 32, 0)
    block = BlockAdded(chain="mainnet", header=header, logs=[ping_log(4), ping_log(7)])
    (finding,) = detector.evaluate(block)
    assert (finding.rule, finding.kind, finding.title) == ("vault-ping", "fixture-ping", "ping 7")


def test_rules_list_shows_plugin_rules(plugin: list[str]) -> None:
    result = CliRunner().invoke(rules_app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "fixture-ping" in result.output
    assert plugin == ["breakglass.rules"]


@pytest.mark.parametrize(
    ("params", "status"),
    [("{at_least: 5}", CheckStatus.PASS), ("{at_most: 5}", CheckStatus.FAIL)],
    ids=["valid", "bad-param"],
)
def test_the_plan_check_knows_plugin_rules(
    plugin: list[str], tmp_path: Path, params: str, status: CheckStatus
) -> None:
    ctx = CheckContext(load_plan(write_plan(tmp_path, params)), date(2026, 11, 23))
    results = RuleParamsCheck().run(ctx)
    assert [r.status for r in results] == [status], results
