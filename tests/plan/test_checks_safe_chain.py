"""A mainnet Safe proposing to a contract that is only on Arbitrum fails `plan check`: the
proposal would be signed for a chain where the contract is not."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import breakglass.respond.plancheck  # noqa: F401 - registers playbooks.steps
from breakglass.plan import load_plan
from breakglass.plan.checks import CheckStatus, check_plan

PLAN = """\
protocol: Fixture
chains:
  mainnet: {chain_id: 1, rpc: ["https://rpc.example"]}
  arbitrum: {chain_id: 42161, rpc: ["https://arb.example"]}
contracts:
  pool: {chain: arbitrum, address: "0x8888888888888888888888888888888888888888"}
signers:
  SAFE:
    {type: safe, chain: CHAIN, address: "0x2222222222222222222222222222222222222222", threshold: 1}
playbooks:
  - id: contain
    steps:
      - {action: safe-proposal, safe: SAFE, contract: pool}
"""


def _failures(tmp_path: Path, safe: str, chain: str) -> list[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace("SAFE", safe).replace("CHAIN", chain), encoding="utf-8")
    results = check_plan(load_plan(path), today=date(2026, 11, 23)).results
    return [
        f"{r.check_id}: {r.message}"
        for r in results
        if r.status is CheckStatus.FAIL and r.check_id.startswith("playbooks.")
    ]


def test_a_safe_on_another_chain_fails(tmp_path: Path) -> None:
    [failure] = _failures(tmp_path, "eth_safe", "mainnet")
    assert "contract 'pool' is not deployed on chain 'mainnet'" in failure


def test_a_safe_on_the_contracts_chain_passes(tmp_path: Path) -> None:
    assert _failures(tmp_path, "arb_safe", "arbitrum") == []
