"""YAML rule kinds on real anvil transactions, and their plan configuration.

An OpenZeppelin 4.9.6 ERC20PresetMinterPauser from npm; every transaction is mined in its own
block. Each kind has a transaction it must flag and one it must not.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from web3 import Web3

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect import (
    Detector,
    Finding,
    RuleSetup,
    RuleSetupError,
    StateReader,
    Target,
    build_rules,
    registered_rules,
)
from breakglass.detect.setup import rule_detector
from breakglass.devchain import Anvil
from breakglass.errors import PlanError
from breakglass.ingest import BlockFetcher
from breakglass.plan import load_plan

E18 = 10**18
checksum = Web3.to_checksum_address


class Chain:
    """Fetches what a detector needs for a receipt's block, reads its state, evaluates."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.loop = asyncio.new_event_loop()
        self.pool = EndpointPool([Endpoint(anvil.http_url)])

    def step(self, detector: Detector, receipt: dict[str, Any]) -> list[Finding]:
        async def run() -> list[Finding]:
            fetcher = BlockFetcher(self.pool, detector.fetch_spec())
            header = await fetcher.header_by_hash(receipt["blockHash"])
            block = await fetcher.fetch("local", header)
            state = await StateReader(self.pool).read(block.hash, detector.state_calls())
            return detector.evaluate(block, state)

        return self.loop.run_until_complete(run())

    def submit(self, sender: str, to: str, data: str) -> dict[str, Any]:
        """Sends a transaction and returns its receipt, whether it succeeded or not."""
        tx = {"from": sender, "to": to, "data": data, "gas": hex(8_000_000)}
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        for _ in range(100):  # automine answers before the receipt is stored
            receipt = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            time.sleep(0.02)
        raise AssertionError(f"no receipt for {tx_hash}")

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def chain(anvil: Anvil) -> Iterator[Chain]:
    chain = Chain(anvil)
    yield chain
    chain.close()


def detector(kind: str, targets: list[tuple[str, str]], **params: Any) -> Detector:
    return rule_detector(kind, targets, chain="local", params=params)


TRANSFER = "Transfer(address indexed from, address indexed to, uint256 value)"


@pytest.mark.chain
def test_event(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin, vault, attacker = (chain.anvil.accounts[i] for i in (0, 2, 4))
    rule = detector(
        "event",
        [("aUSD", token.address), ("vault", vault)],
        signature=TRANSFER,
        where="value > 1000 * 10**18 and to != vault and log.address == aUSD",
        title="{contract}: {value:,} to {to}",
    )
    assert chain.step(rule, token.call(admin, "mint", vault, 5_000 * E18)) == []
    assert chain.step(rule, token.call(admin, "mint", attacker, 10 * E18)) == []
    receipt = token.call(admin, "mint", attacker, 5_000 * E18)
    (finding,) = chain.step(rule, receipt)
    assert finding.title == f"aUSD: {5_000 * E18:,} to {attacker.lower()}"
    assert finding.data["args"]["value"] == 5_000 * E18
    assert finding.tx_hash == receipt["transactionHash"]
    assert finding.kind == "event"


def test_event_params_are_checked() -> None:
    params = registered_rules()["event"].Params
    with pytest.raises(ValidationError, match="unknown ABI type 'uint257'"):
        params.model_validate({"signature": "Transfer(address indexed from, uint257 value)"})
    with pytest.raises(ValidationError, match="not a signature"):
        params.model_validate({"signature": "Transfer address"})
    with pytest.raises(ValidationError, match="unknown field \\{amount\\}"):
        params.model_validate({"signature": TRANSFER, "title": "{amount}"})
    with pytest.raises(ValidationError, match=r"unknown field \{value\.__class__\}"):
        params.model_validate({"signature": TRANSFER, "title": "{value.__class__}"})
    with pytest.raises(ValidationError, match="in expression 'value >'"):
        params.model_validate({"signature": TRANSFER, "where": "value >"})
    cls = registered_rules()["event"]
    setup = RuleSetup(
        "e", "local", (Target("t", "0x" + "11" * 20),), params(signature=TRANSFER, where="x > 1")
    )
    with pytest.raises(PlanError, match="rule e: unknown name x"):
        cls(setup)


@pytest.mark.chain
def test_call_by_transaction_and_internal_call(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin, attacker = chain.anvil.accounts[0], chain.anvil.accounts[4]
    minting = detector(
        "call",
        [("aUSD", token.address)],
        function="mint(address to, uint256 amount)",
        where='amount > 100 and tx["from"] == call.sender',
    )
    assert chain.step(minting, token.call(admin, "mint", attacker, 5)) == []
    (finding,) = chain.step(minting, token.call(admin, "mint", attacker, 500))
    assert finding.title == f"{admin.lower()} called aUSD.mint(address,uint256) by transaction"
    assert finding.data["args"] == {"to": attacker.lower(), "amount": 500}

    proxy_admin = token.deploy(admin, "ProxyAdmin")
    proxy = token.deploy(
        admin, "TransparentUpgradeableProxy", checksum(token.address), checksum(proxy_admin), b""
    )
    upgrades = detector(
        "call", [("pool", proxy)], function="upgradeTo(address)", where="call.internal"
    )
    other = token.deploy(admin, "ERC20PresetMinterPauser", "Other", "OTH")
    (finding,) = chain.step(
        upgrades,
        token.call(
            admin,
            "upgrade",
            checksum(proxy),
            checksum(other),
            contract=token.at(proxy_admin, token.artifact("ProxyAdmin")["abi"]),
        ),
    )
    assert finding.title == f"{proxy_admin} called pool.upgradeTo(address) by internal call"
    assert finding.data["args"] == {"arg0": other}
    assert chain.step(upgrades, token.call(admin, "mint", admin, 1)) == []


@pytest.mark.chain
def test_tx(chain: Chain, make_token: Any) -> None:
    token = make_token()
    prober, holder = chain.anvil.accounts[4], chain.anvil.accounts[6]
    rule = detector(
        "tx",
        [("aUSD", token.address)],
        where="tx.status == 0 and tx.to == aUSD and tx.gas > 1_000_000",
        title="{from} failed on {contract}",
    )
    assert chain.step(rule, token.call(chain.anvil.accounts[0], "mint", holder, 1)) == []
    probe = token.contract.encode_abi("transfer", args=[holder, 1])  # no tokens: reverts
    receipt = chain.submit(prober, token.address, probe)
    assert receipt["status"] == "0x0"
    (finding,) = chain.step(rule, receipt)
    assert finding.title == f"{prober.lower()} failed on aUSD"
    assert finding.data["status"] == 0
    assert finding.data["selector"] == probe[:10]


@pytest.mark.chain
def test_state(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin, vault, attacker = (chain.anvil.accounts[i] for i in (0, 2, 4))
    rule = detector(
        "state",
        [("aUSD", token.address), ("vault", vault)],
        calls=[
            {"name": "supply", "signature": "totalSupply()"},
            {"name": "held", "signature": "balanceOf(address)", "args": ["vault"]},
        ],
        where="supply > previous.supply + 1_000 * 10**18 or held < previous.held",
        title="supply {supply}, vault {held}",
    )
    assert chain.step(rule, token.call(admin, "mint", vault, 500 * E18)) == []  # first block
    assert chain.step(rule, token.call(admin, "mint", attacker, 10 * E18)) == []
    (finding,) = chain.step(rule, token.call(admin, "mint", attacker, 5_000 * E18))
    assert finding.title == f"supply {5_510 * E18}, vault {500 * E18}"
    assert finding.data["previous"]["supply"] == 510 * E18
    assert chain.step(rule, token.call(admin, "mint", attacker, 1)) == []  # no longer true
    (finding,) = chain.step(rule, token.call(vault, "transfer", attacker, 1))
    assert finding.data["values"]["held"] == 500 * E18 - 1
    with pytest.raises(ValidationError, match="takes 1 arguments, `args` has 0"):
        registered_rules()["state"].Params.model_validate(
            {"calls": [{"name": "b", "signature": "balanceOf(address)"}], "where": "b > 0"}
        )


@pytest.mark.chain
def test_window(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin, holder, attacker = (chain.anvil.accounts[i] for i in (0, 6, 4))
    rule = detector(
        "window",
        [("aUSD", token.address)],
        event=TRANSFER,
        key="to",
        measure="sum",
        field="value",
        blocks=3,
        threshold=100 * E18,
    )
    watch = [("aUSD", token.address)]
    count = detector(
        "window", watch, event=TRANSFER, key="to", measure="count", seconds=3600, threshold=1
    )
    rate = detector(
        "window",
        watch,
        event=TRANSFER,
        key="to",
        measure="rate",
        blocks=4,
        field="value",
        threshold=25 * E18,
    )
    first = token.call(admin, "mint", attacker, 60 * E18)
    assert [chain.step(d, first) for d in (rule, count, rate)] == [[], [], []]
    other = token.call(admin, "mint", holder, 60 * E18)  # another key
    assert [chain.step(d, other) for d in (rule, count, rate)] == [[], [], []]
    receipt = token.call(admin, "mint", attacker, 60 * E18)
    (counted,) = chain.step(count, receipt)
    assert counted.data["value"] == 2
    (rated,) = chain.step(rate, receipt)
    assert rated.data["value"] == 30 * E18  # 120 tokens over 4 blocks
    (finding,) = chain.step(rule, receipt)
    assert finding.data["key"] == attacker.lower()
    assert finding.data["value"] == 120 * E18
    assert chain.step(rule, receipt) == []  # the same block again counts once
    for _ in range(3):  # the window moves past the attacker's transfers
        chain.step(rule, token.call(admin, "mint", admin, 1))
    windows = rule.rules[0].windows  # type: ignore[attr-defined]
    assert list(windows) == [admin.lower()]  # empty windows are dropped
    with pytest.raises(ValidationError, match="exactly one of `blocks` and `seconds`"):
        registered_rules()["window"].Params.model_validate(
            {"event": TRANSFER, "key": "to", "measure": "count", "threshold": 3}
        )


@pytest.mark.chain
def test_window_without_key_counts_the_matches_where_selects(chain: Chain, make_token: Any) -> None:
    # Defender's alert-threshold: N matches of a condition within a window, whoever they are.
    token = make_token()
    admin, holder, attacker = (chain.anvil.accounts[i] for i in (0, 6, 4))
    rule = detector(
        "window",
        [("aUSD", token.address)],
        event=TRANSFER,
        where="value > 100 * 10**18",
        measure="count",
        seconds=3600,
        threshold=2,
    )
    assert chain.step(rule, token.call(admin, "mint", attacker, 200 * E18)) == []
    assert chain.step(rule, token.call(admin, "mint", holder, 5 * E18)) == []  # not a match
    assert chain.step(rule, token.call(admin, "mint", holder, 300 * E18)) == []  # two keys
    (finding,) = chain.step(rule, token.call(admin, "mint", admin, 101 * E18))
    assert finding.data["value"] == 3 and finding.data["key"] is None
    assert finding.title.startswith("count of Transfer is 3 within 3600s")


PLAN = """\
protocol: T
chains:
  local: {chain_id: 31337, rpc: ["http://127.0.0.1:8545"]}
contracts:
  token: {chain: local, address: "0x2222222222222222222222222222222222222222"}
  pool: {chain: local, address: "0x1111111111111111111111111111111111111111"}
rules:
  - id: big-transfer
    rule: event
    contracts: [token]
    params:
      signature: "Transfer(address indexed from, address indexed to, uint256 value)"
      where: "value > 1000 * 10**18 and to != token"
  - id: upgrade
    rule: call
    contracts: [pool]
    params: {function: "upgradeTo(address)"}
  - id: failed
    rule: tx
    contracts: [pool]
    params: {where: "tx.status == 0"}
  - id: supply
    rule: state
    contracts: [token]
    params:
      calls: [{name: supply, signature: "totalSupply()"}]
      where: "supply > previous.supply * 2"
  - id: inflow
    rule: window
    contracts: [token]
    params: {event: "Transfer(address indexed from, address indexed to, uint256 value)",
             key: to, measure: count, seconds: 300, threshold: 20}
"""


def test_yaml_rules_from_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(PLAN))
    rules = build_rules(load_plan(path), chain="local")
    assert [r.id for r in rules] == ["event", "call", "tx", "state", "window"]
    spec = Detector("local", rules).fetch_spec()
    assert spec.transactions and spec.receipts and spec.traces

    path.write_text(PLAN.replace("to != token", "to !="))
    loaded = load_plan(path)
    with pytest.raises(RuleSetupError) as caught:
        build_rules(loaded, chain="local")
    (problem,) = caught.value.problems
    located = problem.located(loaded)
    assert located.startswith(f"{path}:")
    assert "rules[0].params.where" in located
    assert "invalid syntax" in located or "in expression 'value > 1000" in located


def test_plan_doc_examples_validate() -> None:
    text = (Path(__file__).parents[2] / "docs" / "plan.md").read_text()
    section = text.split("## YAML rules")[1].split("\n## ")[0]
    examples = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert len(examples) == 5
    for example in examples:
        (rule,) = yaml.safe_load(example)
        registered_rules()[rule["rule"]].Params.model_validate(rule["params"])
