"""A contract declared once with its addresses per chain: rules run on every chain it is
deployed on, the plan is seen from each chain, and single-chain plans load as before."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from breakglass.detect import build_rules, rule_problems
from breakglass.plan import load_plan
from breakglass.plan.issues import PlanLoadError

pytestmark = pytest.mark.unit

ETH_POOL = "0x1111111111111111111111111111111111111111"
ARB_POOL = "0x2222222222222222222222222222222222222222"
ETH_USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
ARB_USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"

PLAN = f"""\
protocol: Acme Lending
chains:
  ethereum: {{chain_id: 1, rpc: ["https://eth.example"]}}
  arbitrum: {{chain_id: 42161, rpc: ["https://arb.example"]}}
contracts:
  pool:
    deployments:
      ethereum: {{address: "{ETH_POOL}", from_block: 17000000}}
      arbitrum: {{address: "{ARB_POOL}", from_block: 120000000}}
  usdc:
    deployments:
      ethereum: "{ETH_USDC}"
      arbitrum: "{ARB_USDC}"
  legacy: {{chain: ethereum, address: "0x3333333333333333333333333333333333333333"}}
rules:
  - {{id: drain, rule: large-outflow, contracts: [pool],
     params: {{token: usdc, decimals: 6, threshold: 1000}}}}
  - {{id: drain-eth, rule: large-outflow, contracts: [pool], chain: ethereum,
     params: {{token: usdc, decimals: 6, threshold: 1000}}}}
  - {{id: legacy-paused, rule: paused, contracts: [legacy]}}
analysis:
  positions: [{{contract: pool, asset: usdc}}]
"""


def _load(tmp_path: Path, text: str = PLAN) -> object:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    return load_plan(path)


def test_a_contract_deployed_on_two_chains_is_watched_on_both(tmp_path: Path) -> None:
    loaded = _load(tmp_path)
    eth = {r.rule_id: r for r in build_rules(loaded, chain="ethereum")}  # type: ignore[arg-type]
    arb = {r.rule_id: r for r in build_rules(loaded, chain="arbitrum")}  # type: ignore[arg-type]
    assert sorted(eth) == ["drain", "drain-eth", "legacy-paused"]
    assert sorted(arb) == ["drain"]  # drain-eth is narrowed; legacy lives on ethereum only
    assert eth["drain"].setup.targets[0].address == ETH_POOL.lower()
    assert arb["drain"].setup.targets[0].address == ARB_POOL.lower()
    # a parameter naming a contract is its address on the rule's chain
    assert str(eth["drain"].setup.params.token).lower() == ETH_USDC.lower()  # type: ignore[attr-defined]
    assert str(arb["drain"].setup.params.token).lower() == ARB_USDC.lower()  # type: ignore[attr-defined]


def test_the_plan_seen_from_each_chain(tmp_path: Path) -> None:
    plan = _load(tmp_path).plan  # type: ignore[attr-defined]
    pool = plan.contracts["pool"]
    assert (pool.chain, pool.address) == ("ethereum", ETH_POOL)  # the home chain: first listed
    assert pool.chains == ("ethereum", "arbitrum")
    assert plan.contracts["legacy"].chains == ("ethereum",)
    assert plan.deployed_on("nope") == ()
    arbitrum = plan.on_chain("arbitrum")
    assert (arbitrum.contracts["pool"].chain, arbitrum.contracts["pool"].address) == (
        "arbitrum",
        ARB_POOL,
    )
    assert arbitrum.contracts["legacy"] is plan.contracts["legacy"]
    # analysis named the asset: the home address at load, the arbitrum one from arbitrum
    assert plan.analysis.positions[0].asset == ETH_USDC
    assert arbitrum.analysis.positions[0].asset == ARB_USDC
    assert (plan.start_block("ethereum"), plan.start_block("arbitrum")) == (17000000, 120000000)
    assert arbitrum.analysis.from_block == 120000000


def test_a_rule_that_would_leave_a_chain_unwatched_says_so(tmp_path: Path) -> None:
    text = PLAN.replace("contracts: [pool], chain: ethereum", "contracts: [pool, legacy]")
    text = text.replace("contracts: [legacy]}", "contracts: [legacy], chain: arbitrum}")
    loaded = _load(tmp_path, text)
    messages = [p.message for p in rule_problems(loaded)]  # type: ignore[arg-type]
    assert any("legacy is not deployed on chain 'arbitrum'" in m for m in messages), messages
    # pool and legacy share ethereum only: arbitrum, where pool is, would go unwatched
    assert any(
        "would not run on arbitrum, where pool is deployed, because legacy is not" in m
        for m in messages
    ), messages


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("      arbitrum: {address", "      arbitrun: {address", "unknown chain 'arbitrun'"),
        (
            "  pool:\n    deployments:",
            f'  pool:\n    chain: ethereum\n    address: "{ETH_POOL}"\n    deployments:',
            "either chain and address",
        ),
        (f'arbitrum: "{ARB_USDC}"', 'arbitrum: "0x12"', "address"),
    ],
)
def test_bad_deployments_are_located(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in PLAN
    with pytest.raises(PlanLoadError) as caught:
        _load(tmp_path, PLAN.replace(old, new, 1))
    assert any(message in str(issue) for issue in caught.value.issues), caught.value.issues


def test_every_example_plan_still_loads() -> None:
    examples = sorted(Path("examples/plans").glob("*.yaml"))
    assert len(examples) >= 3
    for example in examples:
        load_plan(example)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "token: usdc, decimals: 6, threshold: 1000}}\n  - {id: drain-eth",
            "token: usdcc, decimals: 6, threshold: 1000}}\n  - {id: drain-eth",
            "'usdcc' is neither an address nor a contract or signer on chain 'ethereum'; "
            "did you mean 'usdc'?",
        ),
        (
            "token: usdc, decimals: 6, threshold: 1000}}\n  - {id: drain-eth",
            "token: legacy, decimals: 6, threshold: 1000}}\n  - {id: drain-eth",
            "contract 'legacy' is not deployed on chain 'arbitrum' (it is on ethereum)",
        ),
    ],
)
def test_a_rule_parameter_naming_no_contract_there_says_why(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in PLAN
    loaded = _load(tmp_path, PLAN.replace(old, new, 1))
    messages = [p.message for p in rule_problems(loaded)]  # type: ignore[arg-type]
    assert any(message in m for m in messages), messages
