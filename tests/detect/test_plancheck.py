"""The ``rules.params`` plan check: configured rules of unknown types or with bad parameters."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from breakglass.cli.plan import app as plan_app
from breakglass.detect.plancheck import RuleParamsCheck
from breakglass.plan import load_plan
from breakglass.plan.checks import CheckContext, CheckResult, CheckStatus, registered_checks

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "plans" / "checks" / "rules.params"
FULL = ROOT / "examples" / "plans" / "full.yaml"


def run(path: Path) -> list[CheckResult]:
    return RuleParamsCheck().run(CheckContext(load_plan(path), date(2026, 11, 23)))


def test_plan_check_runs_the_check() -> None:
    result = CliRunner().invoke(plan_app, ["check", str(FIXTURES / "fail.yaml")])
    assert result.exit_code == 1, result.output
    assert "rules.params" in result.output and "unknown rule type 'pausd'" in result.output
    assert "rules.params" in {check.id for check in registered_checks()}


def test_valid_and_disabled_rules_pass() -> None:
    assert [r.status for r in run(FIXTURES / "pass.yaml")] == [CheckStatus.PASS]


def test_unknown_type_and_bad_params_are_located() -> None:
    fixture = FIXTURES / "fail.yaml"
    found = {(r.status, r.location, r.message.split(";")[0]) for r in run(fixture)}
    assert found == {
        (CheckStatus.FAIL, f"{fixture}:10:11", "unknown rule type 'pausd'"),
        (
            CheckStatus.FAIL,
            f"{fixture}:17:15",
            "rules[1].params.window: unknown field 'window' "
            "(expected one of: decimals, max_increase, max_increase_percent)",
        ),
    }


def test_missing_contract_chain_is_reported(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        (FIXTURES / "pass.yaml")
        .read_text()
        .replace(
            "  receipt: {chain: mainnet,",
            "  receipt: {chain: base,",
        )
        .replace(
            '  mainnet: {chain_id: 1, rpc: ["https://rpc.example"]}',
            '  mainnet: {chain_id: 1, rpc: ["https://rpc.example"]}\n'
            '  base: {chain_id: 8453, rpc: ["https://rpc.example"]}',
        )
        .replace("contracts: [vault], severity", "contracts: [vault, receipt], severity")
    )
    (result,) = run(plan)
    assert result.status is CheckStatus.FAIL
    assert "several chains" in result.message


def test_full_example_rules_validate() -> None:
    assert [r.status for r in run(FULL)] == [CheckStatus.PASS]
