"""State, oracle, dependency and governance rules on real anvil state.

OpenZeppelin 4.9.6 tokens, Uniswap V2 pairs and Safe 1.4.1 from their npm bytecode; price and
sequencer feeds are the bundled SettableFeed. Each rule has a block it must flag and one it
must not. State is read with ``StateReader`` at the block's hash, as the monitor does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from web3 import Web3

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.contracts import compile_file
from breakglass.detect import Detector, Finding, StateReader, registered_rules
from breakglass.detect.setup import rule_detector
from breakglass.devchain import Anvil
from breakglass.errors import PlanError
from breakglass.ingest import BlockFetcher
from breakglass.nodepkgs import find_node_file

pytestmark = pytest.mark.chain

E18 = 10**18
E8 = 10**8


class Chain:
    """Evaluates detectors on anvil blocks; every transaction is mined in its own block."""

    def __init__(self, anvil: Anvil, token: Any) -> None:
        self.anvil = anvil
        self.token = token
        self.loop = asyncio.new_event_loop()
        self.pool = EndpointPool([Endpoint(anvil.http_url)])

    def evaluate(self, detector: Detector, block_hash: str | None = None) -> list[Finding]:
        """The detector's findings on ``block_hash`` (default: the latest block)."""
        if block_hash is None:
            block_hash = self.anvil.rpc("eth_getBlockByNumber", ["latest", False])["hash"]

        async def run() -> list[Finding]:
            fetcher = BlockFetcher(self.pool, detector.fetch_spec())
            block = await fetcher.fetch("local", await fetcher.header_by_hash(block_hash))
            state = await StateReader(self.pool).read(block.hash, detector.state_calls())
            return detector.evaluate(block, state)

        return self.loop.run_until_complete(run())

    def step(self, detector: Detector, receipt: dict[str, Any]) -> list[Finding]:
        return self.evaluate(detector, receipt["blockHash"])

    def now(self) -> int:
        return int(self.anvil.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def later(self, seconds: int) -> None:
        self.anvil.rpc("evm_increaseTime", [seconds])
        self.anvil.rpc("evm_mine")

    def deploy(self, abi: Any, bytecode: str, *args: Any) -> Any:
        bytecode = bytecode if bytecode.startswith("0x") else "0x" + bytecode
        factory = Web3().eth.contract(abi=abi, bytecode=bytecode)
        deployer = self.anvil.accounts[0]
        receipt = self.token.send(deployer, None, factory.constructor(*args).data_in_transaction)
        return self.token.at(receipt["contractAddress"], abi)

    def feed(self, answer: int, decimals: int = 8) -> Any:
        built = compile_file("SettableFeed.sol")["SettableFeed"]
        return self.deploy(built.abi, built.bytecode, decimals, "test feed", answer)

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def chain(anvil: Anvil, token: Any) -> Iterator[Chain]:
    chain = Chain(anvil, token)
    yield chain
    chain.close()


def detector(kind: str, targets: list[tuple[str, str]], **params: Any) -> Detector:
    return rule_detector(kind, targets, chain="local", params=params)


def npm_artifact(relpath: str) -> dict[str, Any]:
    path = find_node_file(Path("node_modules", relpath))
    assert path is not None, f"run npm install: {relpath} is missing"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_unexpected_mint(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin = chain.anvil.accounts[0]
    rule = detector("unexpected-mint", [("aUSD", token.address)], max_increase_percent=5)
    assert chain.step(rule, token.call(admin, "mint", admin, 1_000 * E18)) == []  # first sight
    assert chain.step(rule, token.call(admin, "mint", admin, 10 * E18)) == []  # +1%
    (finding,) = chain.step(rule, token.call(admin, "mint", admin, 1_000_000 * E18))
    assert finding.title == "aUSD supply rose by 1,000,000.0000 in one block"
    assert finding.data["increase"] == 1_000_000 * E18
    with pytest.raises(ValidationError, match="max_increase_percent, max_increase or both"):
        registered_rules()["unexpected-mint"].Params.model_validate({})


def test_balance_drop(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin, vault, attacker = (chain.anvil.accounts[i] for i in (0, 2, 4))
    rule = detector("balance-drop", [("vault", vault)], token=token.address, percent=20, blocks=5)
    assert chain.step(rule, token.call(admin, "mint", vault, 1_000 * E18)) == []
    assert chain.step(rule, token.call(vault, "transfer", attacker, 100 * E18)) == []  # -10%
    (finding,) = chain.step(rule, token.call(vault, "transfer", attacker, 200 * E18))
    assert finding.title == "vault balance fell from 1,000.0000 to 700.0000"  # -30% in window
    assert finding.data["peak"] == 1_000 * E18
    assert chain.step(rule, token.call(admin, "mint", admin, 1)) == []  # once per drop


def test_tvl_drop_over_balances_and_a_view(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin, pool_a, pool_b, attacker = (chain.anvil.accounts[i] for i in (0, 2, 3, 4))
    holdings = [
        {"token": token.address, "holder": pool_a},
        {"token": token.address, "holder": pool_b},
    ]
    rule = detector("tvl-drop", [], balances=holdings, percent=30, blocks=10)
    supply = detector("tvl-drop", [("aUSD", token.address)], view="totalSupply()", percent=30)
    token.call(admin, "mint", pool_a, 500 * E18)
    receipt = token.call(admin, "mint", pool_b, 500 * E18)
    assert chain.step(rule, receipt) == [] and chain.step(supply, receipt) == []
    moved = token.call(pool_a, "transfer", pool_b, 400 * E18)  # inside the protocol
    assert chain.step(rule, moved) == [] and chain.step(supply, moved) == []
    drained = token.call(pool_b, "transfer", attacker, 600 * E18)
    (finding,) = chain.step(rule, drained)
    assert finding.title == "TVL fell from 1,000.0000 to 400.0000"
    assert chain.step(supply, drained) == []  # a transfer keeps the supply
    (finding,) = chain.step(supply, token.call(attacker, "burn", 600 * E18))
    assert finding.title == "TVL fell from 1,000.0000 to 400.0000"
    with pytest.raises(ValidationError, match="expected a view without arguments"):
        registered_rules()["tvl-drop"].Params.model_validate(
            {"view": "balanceOf(address)", "percent": 5}
        )


def test_oracle_stale(chain: Chain) -> None:
    feed = chain.feed(2_000 * E8)
    rule = detector("oracle-stale", [("eth-usd", feed.address)], max_age="1h")
    assert chain.evaluate(rule) == []
    chain.later(2 * 3600)
    (finding,) = chain.evaluate(rule)
    assert finding.title.startswith("eth-usd last updated 7")
    assert finding.title.endswith("s ago (max 3600s)")
    assert chain.evaluate(rule) == []  # once until the feed updates
    chain.token.call(chain.anvil.accounts[0], "setAnswer", 2_001 * E8, contract=feed)
    assert chain.evaluate(rule) == []


def test_oracle_deviation_from_a_reference_feed_and_jumps(chain: Chain) -> None:
    admin = chain.anvil.accounts[0]
    feed, reference = chain.feed(2_000 * E8), chain.feed(2_000 * E8)
    rule = detector(
        "oracle-deviation",
        [("eth-usd", feed.address)],
        reference={"feed": reference.address},
        percent=2,
        jump_percent=5,
    )
    assert chain.evaluate(rule) == []
    small = chain.token.call(admin, "setAnswer", 2_020 * E8, contract=feed)  # +1%
    assert chain.step(rule, small) == []
    big = chain.token.call(admin, "setAnswer", 2_400 * E8, contract=feed)
    deviation, jump = sorted(chain.step(rule, big), key=lambda f: f.title)
    assert deviation.title == "eth-usd answer 2400.000000 is 20.00% off the reference 2000.000000"
    assert jump.title.startswith("eth-usd moved 18.81% in one block")


def test_depeg_on_a_uniswap_v2_pair(chain: Chain, make_token: Any) -> None:
    admin = chain.anvil.accounts[0]
    stable, usdc = make_token(), make_token()
    built = npm_artifact("@uniswap/v2-core/build/UniswapV2Factory.json")
    factory = chain.deploy(built["abi"], built["bytecode"], admin)
    checksum = Web3.to_checksum_address
    receipt = chain.token.call(
        admin, "createPair", checksum(stable.address), checksum(usdc.address), contract=factory
    )
    pair_address = Web3.to_checksum_address("0x" + receipt["logs"][0]["data"][26:66])
    pair = chain.token.at(
        pair_address, npm_artifact("@uniswap/v2-core/build/UniswapV2Pair.json")["abi"]
    )
    stable.call(admin, "mint", pair_address, 1_000_000 * E18)
    usdc.call(admin, "mint", pair_address, 1_000_000 * E18)
    chain.token.call(admin, "mint", admin, contract=pair)
    price = {"pair": pair_address, "base": stable.address, "quote": usdc.address}
    rule = detector("depeg", [], price=price, max_deviation_percent=2)
    assert chain.evaluate(rule) == []
    stable.call(admin, "mint", pair_address, 10_000 * E18)  # a 1% dip
    assert chain.step(rule, chain.token.call(admin, "sync", contract=pair)) == []
    stable.call(admin, "mint", pair_address, 240_000 * E18)  # dumped: 1.25M against 1M
    (finding,) = chain.step(rule, chain.token.call(admin, "sync", contract=pair))
    assert finding.title == "price 0.800000 is 20.00% off the peg 1"
    assert finding.addresses == (pair_address.lower(),)


def test_sequencer_down_and_grace_period(chain: Chain) -> None:
    admin = chain.anvil.accounts[0]
    uptime = chain.feed(0, decimals=0)
    rule = detector("sequencer-down", [("arbitrum-uptime", uptime.address)], grace_period="1h")
    since = chain.now() - 2 * 3600
    set_round = chain.token.call(admin, "setRound", 0, since, since, contract=uptime)
    assert chain.step(rule, set_round) == []  # up for two hours
    (down,) = chain.step(rule, chain.token.call(admin, "setAnswer", 1, contract=uptime))
    assert down.data["status"] == "down"
    (back,) = chain.step(rule, chain.token.call(admin, "setAnswer", 0, contract=uptime))
    assert back.data["status"] == "recovering"
    assert "sequencer up only" in back.title
    chain.later(3601)
    assert chain.evaluate(rule) == []


def test_dependency_paused(chain: Chain, make_token: Any) -> None:
    upstream = make_token()
    admin = chain.anvil.accounts[0]
    rule = detector("dependency-paused", [("usdc", upstream.address)])
    assert chain.step(rule, upstream.call(admin, "mint", admin, 5)) == []
    receipt = upstream.call(admin, "pause")
    (finding,) = chain.step(rule, receipt)  # the event and the view: one finding
    assert finding.tx_hash == receipt["transactionHash"]
    assert finding.title == f"upstream usdc is paused by {admin.lower()}"
    assert chain.step(rule, upstream.call(admin, "grantRole", b"\x01" * 32, admin)) == []
    # A monitor started after the pause sees it through paused() alone.
    late = detector("dependency-paused", [("usdc", upstream.address)])
    (finding,) = chain.evaluate(late)
    assert finding.tx_hash is None and finding.title == "upstream usdc is paused"
    assert chain.step(rule, upstream.call(admin, "unpause")) == []
    (finding,) = chain.step(rule, upstream.call(admin, "pause"))  # paused again: reported again
    assert finding.tx_hash is not None


def test_invariant(chain: Chain, make_token: Any) -> None:
    token = make_token()
    admin, vault, attacker = (chain.anvil.accounts[i] for i in (0, 2, 4))
    params: dict[str, Any] = {
        "expression": "totalSupply() <= 2_000 * 10**18 and token.balanceOf(vault) >= 100e18",
        "contracts": {"token": token.address, "vault": vault},
        "signatures": {"token.balanceOf": "balanceOf(address)"},
    }
    rule = detector("invariant", [("aUSD", token.address)], **params)
    assert chain.step(rule, token.call(admin, "mint", vault, 500 * E18)) == []
    (finding,) = chain.step(rule, token.call(admin, "mint", attacker, 2_000 * E18))
    assert finding.title.startswith("aUSD: invariant `totalSupply() <= 2_000")
    assert finding.data["views"]["totalSupply()"] == 2_500 * E18
    assert chain.step(rule, token.call(admin, "mint", attacker, 1)) == []  # once until it holds

    with pytest.raises(ValidationError, match="in expression 'totalSupply\\(\\) >'"):
        detector("invariant", [("aUSD", token.address)], expression="totalSupply() >")
    with pytest.raises(PlanError, match="unknown name treasury"):
        detector("invariant", [("aUSD", token.address)], expression="balanceOf(treasury) > 0")
    with pytest.raises(PlanError, match="takes 0 arguments, got 1"):
        detector(
            "invariant",
            [("aUSD", token.address)],
            expression="balanceOf(vault) > 0",
            contracts={"vault": vault},
        )


def test_safe_config_change(chain: Chain) -> None:
    owner, newcomer, someone = (chain.anvil.accounts[i] for i in (0, 7, 8))
    root = "@safe-global/safe-contracts/build/artifacts/contracts"
    safe_built = npm_artifact(f"{root}/Safe.sol/Safe.json")
    factory_built = npm_artifact(f"{root}/proxies/SafeProxyFactory.sol/SafeProxyFactory.json")
    singleton = chain.deploy(safe_built["abi"], safe_built["bytecode"])
    factory = chain.deploy(factory_built["abi"], factory_built["bytecode"])
    zero = "0x" + "00" * 20
    setup = singleton.encode_abi("setup", args=[[owner], 1, zero, b"", zero, zero, 0, zero])
    receipt = chain.token.call(
        owner, "createProxyWithNonce", singleton.address, setup, 0, contract=factory
    )
    created = next(
        log for log in receipt["logs"] if log["address"].lower() == factory.address.lower()
    )
    safe_address = Web3.to_checksum_address("0x" + created["topics"][1][26:])
    safe = chain.token.at(safe_address, safe_built["abi"])
    rule = detector("safe-config-change", [("ops-safe", safe_address)])
    # The owner's own call counts as its signature (v = 1, r = the owner).
    signature = bytes.fromhex(owner[2:].lower().rjust(64, "0")) + b"\x00" * 32 + b"\x01"

    def execute(to: str, data: bytes) -> dict[str, Any]:
        receipt: dict[str, Any] = chain.token.call(
            owner,
            "execTransaction",
            to,
            0,
            data,
            0,
            0,
            0,
            0,
            zero,
            zero,
            signature,
            contract=safe,
        )
        return receipt

    assert chain.step(rule, execute(someone, b"")) == []  # an ordinary transaction
    add = safe.encode_abi("addOwnerWithThreshold", args=[newcomer, 2])
    findings = chain.step(rule, execute(safe.address, bytes.fromhex(add[2:])))
    assert [f.title for f in findings] == [
        f"Safe ops-safe: owner {newcomer.lower()} added",
        "Safe ops-safe: threshold changed to 2",
    ]
    assert findings[0].data["event"] == "AddedOwner"
