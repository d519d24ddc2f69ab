"""Names where an address is expected: owner and admin name a contract (a ProxyAdmin, a
Timelock) or a signer; analysis names assets, feeds and pairs; mistakes get did-you-mean.
And the severity-to-priority mapping the plan may change."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from breakglass.cli.plan import app as plan_app
from breakglass.plan import load_plan
from breakglass.plan.issues import PlanLoadError
from breakglass.plan.models import Alerting
from breakglass.plan.models.analysis import FeedPrice

pytestmark = pytest.mark.unit

FEED = "0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"

PLAN = f"""\
protocol: T
chains: {{mainnet: {{chain_id: 1, rpc: ["https://rpc.example"]}}}}
contracts:
  comptroller:
    chain: mainnet
    address: "0x1111111111111111111111111111111111111111"
    admin: proxy_admin
    owner: timelock
  proxy_admin: {{chain: mainnet, address: "0x2222222222222222222222222222222222222222",
                owner: gov_safe}}
  timelock: {{chain: mainnet, address: "0x3333333333333333333333333333333333333333"}}
  weth: {{chain: mainnet, address: "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"}}
  eth_usd: {{chain: mainnet, address: "{FEED}"}}
signers:
  gov_safe: {{type: safe, chain: mainnet, threshold: 3,
             address: "0x4444444444444444444444444444444444444444"}}
analysis:
  positions: [{{contract: comptroller, asset: weth}}]
  labels: [{{address: gov_safe, kind: unknown, name: governance}}]
  prices:
    weth: {{decimals: 18, source: {{feed: eth_usd}}}}
"""


def _load(tmp_path: Path, text: str = PLAN) -> object:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    return load_plan(path)


def test_owner_admin_and_analysis_take_names(tmp_path: Path) -> None:
    plan = _load(tmp_path).plan  # type: ignore[attr-defined]
    assert plan.contracts["comptroller"].admin == "proxy_admin"
    analysis = plan.analysis
    assert analysis.positions[0].asset == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert analysis.labels[0].address == "0x4444444444444444444444444444444444444444"
    price = analysis.price("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2")
    assert price is not None and isinstance(price.source, FeedPrice)
    assert price.source.feed.lower() == FEED


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("admin: proxy_admin", "admin: proxy_admn", "did you mean 'proxy_admin'?"),
        ("owner: timelock", "owner: timelok", "unknown signer or contract 'timelok'"),
        ("source: {feed: eth_usd}", "source: {feed: eth_usdc}", "did you mean 'eth_usd'?"),
        ("asset: weth}", "asset: wet}", "unknown contract or signer 'wet'"),
    ],
)
def test_unknown_names_are_reported_with_a_suggestion(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in PLAN
    with pytest.raises(PlanLoadError) as caught:
        _load(tmp_path, PLAN.replace(old, new, 1))
    assert any(message in str(issue) for issue in caught.value.issues), caught.value.issues
    # One error for the one mistake: the did-you-mean, not also "not an address" there.
    assert len(caught.value.issues) == 1, caught.value.issues


def test_priorities_default_and_can_be_mapped() -> None:
    default = Alerting()
    assert [default.priority(s) for s in ("critical", "high", "medium", "low", "info")] == [
        "P1",
        "P2",
        "P3",
        "P4",
        "P5",
    ]
    assert default.priority("bogus") == "P1"  # when in doubt, choose higher
    mapped = Alerting.model_validate({"priorities": {"high": "p1", "medium": 2}})
    assert (mapped.priority("high"), mapped.priority("medium"), mapped.priority("low")) == (
        "P1",
        "P2",
        "P4",
    )
    with pytest.raises(ValueError, match="one of P1, P2, P3, P4, P5"):
        Alerting.model_validate({"priorities": {"high": "P0"}})


def test_the_multichain_example_passes_plan_check() -> None:
    result = CliRunner().invoke(plan_app, ["check", "examples/plans/multichain.yaml"])
    assert result.exit_code == 0, result.output
