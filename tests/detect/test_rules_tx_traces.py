"""Transaction and call-trace rules on real anvil transactions.

Uniswap V2 pairs and OpenZeppelin 4.9.6 contracts from npm, plus the bundled
``FlashArbitrage.sol`` and ``ReentrantVault.sol``. Each rule has a transaction it must flag
and one it must not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.contracts import compile_file
from breakglass.detect import Detector, Finding
from breakglass.detect.setup import rule_detector
from breakglass.devchain import Anvil
from breakglass.ingest import BlockFetcher
from breakglass.nodepkgs import find_node_file

pytestmark = pytest.mark.chain

ETHER = 10**18
Evaluate = Callable[[Detector, dict[str, Any]], list[Finding]]
checksum = Web3.to_checksum_address


@pytest.fixture
def evaluate(anvil: Anvil) -> Iterator[Evaluate]:
    """Fetches what the detector's rules need for a receipt's block, then evaluates it."""
    loop = asyncio.new_event_loop()
    pool = EndpointPool([Endpoint(anvil.http_url)])

    def run(detector: Detector, receipt: dict[str, Any]) -> list[Finding]:
        async def fetch() -> Any:
            fetcher = BlockFetcher(pool, detector.fetch_spec())
            header = await fetcher.header_by_hash(receipt["blockHash"])
            return await fetcher.fetch("local", header)

        return detector.evaluate(loop.run_until_complete(fetch()))

    yield run
    loop.run_until_complete(pool.aclose())
    loop.close()


def detector(kind: str, targets: list[tuple[str, str]], **params: Any) -> Detector:
    return rule_detector(kind, targets, chain="local", params=params)


def submit(anvil: Anvil, sender: str, to: str | None, data: str, value: int = 0) -> Any:
    """Sends a transaction and returns its receipt, whether it succeeded or not."""
    tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(8_000_000), "value": hex(value)}
    if to is not None:
        tx["to"] = to
    tx_hash = anvil.rpc("eth_sendTransaction", [tx])
    for _ in range(100):  # automine answers before the receipt is stored
        receipt = anvil.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt
        time.sleep(0.02)
    raise AssertionError(f"no receipt for {tx_hash}")


class Deployer:
    """Deploys and calls contracts given their ABI and bytecode, asserting success."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3()

    def deploy(self, sender: str, abi: Any, bytecode: str, *args: Any) -> Any:
        code = bytecode if bytecode.startswith("0x") else "0x" + bytecode
        data = self.w3.eth.contract(abi=abi, bytecode=code).constructor(*args).data_in_transaction
        receipt = self.ok(submit(self.anvil, sender, None, data))
        self.last_receipt = receipt
        return self.w3.eth.contract(address=checksum(receipt["contractAddress"]), abi=abi)

    def call(self, sender: str, contract: Any, fn: str, *args: Any, value: int = 0) -> Any:
        data = contract.encode_abi(fn, args=list(args))
        return self.ok(submit(self.anvil, sender, str(contract.address), data, value))

    def read(self, contract: Any, fn: str, *args: Any) -> Any:
        data = contract.encode_abi(fn, args=list(args))
        raw = self.anvil.rpc("eth_call", [{"to": contract.address, "data": data}, "latest"])
        outputs = contract.get_function_by_name(fn).abi["outputs"]
        return self.w3.codec.decode([o["type"] for o in outputs], bytes.fromhex(raw[2:]))

    @staticmethod
    def ok(receipt: Any) -> Any:
        assert receipt["status"] == "0x1", receipt
        return receipt


def uniswap(name: str) -> dict[str, Any]:
    path = find_node_file(Path("node_modules/@uniswap/v2-core/build", f"{name}.json"))
    assert path is not None, "run npm install"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def fresh_account(anvil: Anvil, seed: str) -> str:
    """An account with ether and no transactions yet (nonce 0)."""
    account = "0x" + Web3.keccak(text=seed)[-20:].hex()
    anvil.rpc("anvil_setBalance", [account, hex(100 * ETHER)])
    anvil.rpc("anvil_impersonateAccount", [account])
    return account


def test_flash_loan_profit(anvil: Anvil, make_token: Any, evaluate: Evaluate) -> None:
    """A flash swap from one Uniswap V2 pair, sold into a mispriced second pair."""
    chain = Deployer(anvil)
    admin, trader = anvil.accounts[0], anvil.accounts[7]
    token_a, token_b = make_token(), make_token()
    factory, pair = uniswap("UniswapV2Factory"), uniswap("UniswapV2Pair")
    a, b = checksum(token_a.address), checksum(token_b.address)
    pairs = []
    for reserve_b in (1_000, 4_000):  # the lender at 1:1, the market at 1:4
        made = chain.deploy(admin, factory["abi"], factory["bytecode"], admin)
        chain.call(admin, made, "createPair", a, b)
        address = checksum(chain.read(made, "getPair", a, b)[0])
        token_a.call(admin, "mint", address, 1_000 * ETHER)
        token_b.call(admin, "mint", address, reserve_b * ETHER)
        pairs.append(chain.w3.eth.contract(address=address, abi=pair["abi"]))
        chain.call(admin, pairs[-1], "mint", admin)
    lender, market = pairs
    built = compile_file("FlashArbitrage.sol")["FlashArbitrage"]
    arbitrage = chain.deploy(trader, built.abi, built.bytecode)

    receipt = chain.call(trader, arbitrage, "run", lender.address, market.address, a, 10 * ETHER)
    (finding,) = evaluate(detector("flash-loan-profit", []), receipt)
    profit = finding.data["profit"]
    assert set(profit) == {token_b.address}
    assert 25 * ETHER < profit[token_b.address] < 35 * ETHER
    assert finding.data["sender"] == trader.lower()
    assert finding.data["lenders"] == [lender.address.lower()]
    assert finding.data["borrowers"] == [arbitrage.address.lower()]
    assert finding.tx_hash == receipt["transactionHash"]
    watched = detector("flash-loan-profit", [("market", market.address)])
    assert len(evaluate(watched, receipt)) == 1
    high_bar = detector("flash-loan-profit", [], min_profit={token_b.address: 100 * ETHER})
    assert evaluate(high_bar, receipt) == []  # below the configured profit
    elsewhere = detector("flash-loan-profit", [("other", "0x" + "12" * 20)])
    assert evaluate(elsewhere, receipt) == []  # no watched contract involved

    token_a.call(admin, "mint", trader, 10 * ETHER)
    token_a.call(trader, "transfer", market.address, 10 * ETHER)
    zero_is_a = chain.read(market, "token0")[0].lower() == token_a.address
    out = (0, ETHER) if zero_is_a else (ETHER, 0)
    swap = chain.call(trader, market, "swap", *out, trader, b"")
    assert evaluate(detector("flash-loan-profit", []), swap) == []  # gain, but no loan


@pytest.fixture(scope="module")
def vault(anvil: Anvil) -> tuple[Deployer, Any, Any]:
    """A funded ReentrantVault, the compiled attacker, and an honest depositor's balance."""
    chain = Deployer(anvil)
    built = compile_file("ReentrantVault.sol")
    vault = chain.deploy(
        anvil.accounts[0], built["ReentrantVault"].abi, built["ReentrantVault"].bytecode
    )
    chain.call(anvil.accounts[1], vault, "deposit", value=10 * ETHER)
    return chain, vault, built["Reenterer"]


def test_reentrancy(anvil: Anvil, vault: Any, evaluate: Evaluate) -> None:
    chain, bank, attacker_code = vault
    attacker = anvil.accounts[8]
    reenterer = chain.deploy(attacker, attacker_code.abi, attacker_code.bytecode, bank.address)
    rule = detector("reentrancy", [("vault", bank.address)])
    receipt = chain.call(attacker, reenterer, "attack", 3, value=ETHER)
    (finding,) = evaluate(rule, receipt)
    assert finding.title == f"vault re-entered through {reenterer.address.lower()}"
    assert finding.data["via"] == reenterer.address.lower()
    assert finding.tx_hash == receipt["transactionHash"]
    once = chain.call(attacker, reenterer, "attack", 0, value=ETHER)
    assert evaluate(rule, once) == []  # paid to a contract that did not call back
    chain.call(anvil.accounts[2], bank, "deposit", value=ETHER)
    honest = chain.call(anvil.accounts[2], bank, "withdraw")
    assert evaluate(rule, honest) == []
    elsewhere = detector("reentrancy", [("other", "0x" + "12" * 20)])
    assert evaluate(elsewhere, receipt) == []


def test_suspicious_contract_creation(anvil: Anvil, vault: Any, evaluate: Evaluate) -> None:
    chain, bank, attacker_code = vault
    fresh = fresh_account(anvil, "suspicious-contract-creation")
    rule = detector("suspicious-contract-creation", [("vault", bank.address)], max_sender_nonce=3)
    reenterer = chain.deploy(fresh, attacker_code.abi, attacker_code.bytecode, bank.address)
    (finding,) = evaluate(rule, chain.last_receipt)
    assert finding.data["embeds"] == ["vault"]
    assert finding.data["nonce"] == 0
    assert finding.data["contract"] == reenterer.address.lower()
    by_selector = detector("suspicious-contract-creation", [], functions=["withdraw()"])
    (finding,) = evaluate(by_selector, chain.last_receipt)
    assert finding.data["embeds"] == ["withdraw()"]

    built = compile_file("ReentrantVault.sol")["ReentrantVault"]
    chain.deploy(fresh, built.abi, built.bytecode)
    assert evaluate(rule, chain.last_receipt) == []  # does not embed the vault's address
    veteran = anvil.accounts[0]  # has deployed most of this module's contracts
    chain.deploy(veteran, attacker_code.abi, attacker_code.bytecode, bank.address)
    assert evaluate(rule, chain.last_receipt) == []  # not a fresh account


def test_failed_tx_spike(anvil: Anvil, token: Any, evaluate: Evaluate) -> None:
    prober, holder = anvil.accounts[4], anvil.accounts[6]
    probe = token.contract.encode_abi("transfer", args=[holder, 1])  # has no tokens: reverts
    watch = [("token", token.address)]
    spike = detector("failed-tx-spike", watch, blocks=10, threshold=2)
    narrow = detector("failed-tx-spike", watch, blocks=2, threshold=2)
    receipts = [submit(anvil, prober, token.address, probe) for _ in range(2)]
    receipts.append(token.call(anvil.accounts[0], "mint", holder, 1))
    receipts.append(submit(anvil, prober, token.address, probe))
    assert [r["status"] for r in receipts] == ["0x0", "0x0", "0x1", "0x0"]
    for receipt in receipts[:3]:
        assert evaluate(spike, receipt) == []
        assert evaluate(narrow, receipt) == []
    assert evaluate(spike, receipts[1]) == []  # the same block again counts once
    (finding,) = evaluate(spike, receipts[3])
    assert finding.data["failed"] == 3
    assert finding.data["senders"] == [prober.lower()]
    assert evaluate(narrow, receipts[3]) == []  # the first failures left the 2-block window
    another = submit(anvil, prober, token.address, probe)
    assert evaluate(spike, another) == []  # one alert per window


def test_known_exploiter_interaction(anvil: Anvil, token: Any, evaluate: Evaluate) -> None:
    admin, exploiter, bystander = anvil.accounts[0], anvil.accounts[5], anvil.accounts[3]
    rule = detector(
        "known-exploiter-interaction", [("token", token.address)], addresses=[exploiter]
    )
    token.call(admin, "mint", exploiter, 5)
    receipt = token.call(exploiter, "transfer", bystander, 5)
    (finding,) = evaluate(rule, receipt)
    assert finding.title == f"known exploiter {exploiter.lower()} called token"
    assert finding.severity == "critical"
    funding = submit(anvil, bystander, exploiter, "0x", ETHER)
    (finding,) = evaluate(rule, funding)
    assert (
        finding.title
        == f"transaction to known exploiter {exploiter.lower()} from {bystander.lower()}"
    )
    assert finding.severity == "high"
    honest = token.call(bystander, "transfer", admin, 5)
    assert evaluate(rule, honest) == []


def test_privileged_call_unknown_sender(anvil: Anvil, token: Any, evaluate: Evaluate) -> None:
    admin, newcomer = anvil.accounts[0], anvil.accounts[3]
    minting = detector(
        "privileged-call-unknown-sender",
        [("token", token.address)],
        functions=["mint(address, uint256)"],
        allowed_senders=[admin],
    )
    assert evaluate(minting, token.call(admin, "mint", admin, 1)) == []
    token.call(admin, "grantRole", Web3.keccak(text="MINTER_ROLE"), newcomer)
    receipt = token.call(newcomer, "mint", newcomer, 1)
    (finding,) = evaluate(minting, receipt)
    assert finding.title == f"{newcomer.lower()} called token.mint(address,uint256) by transaction"
    assert finding.data["internal"] is False

    proxy_admin = token.deploy(admin, "ProxyAdmin")
    proxy = token.deploy(
        admin, "TransparentUpgradeableProxy", checksum(token.address), checksum(proxy_admin), b""
    )
    upgrade = token.call(
        admin,
        "upgrade",
        checksum(proxy),
        checksum(token.deploy(admin, "ERC20PresetMinterPauser", "Other", "OTH")),
        contract=token.at(proxy_admin, token.artifact("ProxyAdmin")["abi"]),
    )
    watch = [("pool", proxy)]
    anyone = detector("privileged-call-unknown-sender", watch, functions=["upgradeTo(address)"])
    (finding,) = evaluate(anyone, upgrade)
    assert finding.data == {
        "contract": proxy,
        "function": "upgradeTo(address)",
        "sender": proxy_admin,
        "internal": True,
        "reverted": False,
    }
    expected = detector(
        "privileged-call-unknown-sender",
        watch,
        functions=["upgradeTo(address)"],
        allowed_senders=[proxy_admin],
    )
    assert evaluate(expected, upgrade) == []
