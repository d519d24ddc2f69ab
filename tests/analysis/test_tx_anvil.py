"""``analyze_tx`` on anvil with real contracts: a Uniswap V2 pair from ``@uniswap/v2-core``,
OpenZeppelin ``ERC20PresetMinterPauser`` tokens and the bundled ``FlashBorrower.sol``."""

from __future__ import annotations

import asyncio
import io
import json
import textwrap
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner
from web3 import Web3

from breakglass.analysis import NATIVE, AnalysisError, TxAnalysis, analyze_plan_tx, analyze_tx
from breakglass.analysis.render import from_json, render_svg, render_tree, to_json
from breakglass.analysis.transfers import TRANSFER_TOPIC
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.cli.app import app
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.plan import load_plan

ETHER = 10**18
BORROW = 100 * ETHER
FEE = BORROW * 3 // 997 + 1
SVG = "{http://www.w3.org/2000/svg}"


def _artifact(relpath: str) -> dict[str, Any]:
    path = find_node_file(Path("node_modules", relpath))
    assert path is not None, f"node_modules/{relpath} missing: run npm install"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@dataclass
class World:
    anvil: Anvil
    plan: Path
    pair: str
    token0: str
    token1: str
    borrower: str
    sender: str
    tip: str
    flash_receipt: dict[str, Any]
    eth_receipt: dict[str, Any]
    failed_receipt: dict[str, Any]


class _Chain:
    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3()

    def send(self, sender: str, to: str | None, data: str, value: int = 0) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(6_000_000)}
        tx["value"] = hex(value)
        if to is not None:
            tx["to"] = to
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        for _ in range(200):  # automine answers before the receipt is stored
            receipt = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            time.sleep(0.02)
        raise AssertionError(f"no receipt for {tx_hash}")

    def ok(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        receipt = self.send(*args, **kwargs)
        assert receipt["status"] == "0x1", receipt
        return receipt

    def deploy(self, sender: str, abi: Any, bytecode: str, *args: Any) -> Any:
        code = bytecode if bytecode.startswith("0x") else "0x" + bytecode
        data = self.w3.eth.contract(abi=abi, bytecode=code).constructor(*args).data_in_transaction
        address = self.ok(sender, None, data)["contractAddress"]
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def call(self, sender: str, contract: Any, fn: str, *args: Any, value: int = 0) -> Any:
        data = contract.encode_abi(fn, args=list(args))
        return self.send(sender, str(contract.address), data, value)

    def read(self, contract: Any, fn: str) -> str:
        data = contract.encode_abi(fn, args=[])
        raw: str = self.anvil.rpc("eth_call", [{"to": contract.address, "data": data}, "latest"])
        return "0x" + raw[-40:]


@pytest.fixture(scope="module")
def world(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> World:
    chain = _Chain(anvil)
    admin, sender, tip = anvil.accounts[0], anvil.accounts[1], anvil.accounts[2]
    oz = _artifact("@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")
    factory_build = _artifact("@uniswap/v2-core/build/UniswapV2Factory.json")
    pair_build = _artifact("@uniswap/v2-core/build/UniswapV2Pair.json")
    tokens = [chain.deploy(admin, oz["abi"], oz["bytecode"], n, n) for n in ("Alpha", "Beta")]
    factory = chain.deploy(admin, factory_build["abi"], factory_build["bytecode"], admin)
    chain.ok(admin, factory.address, factory.encode_abi("createPair", [t.address for t in tokens]))
    pair_address = (
        "0x"
        + anvil.rpc(
            "eth_call",
            [
                {
                    "to": factory.address,
                    "data": factory.encode_abi("getPair", [t.address for t in tokens]),
                },
                "latest",
            ],
        )[-40:]
    )
    pair = chain.w3.eth.contract(
        address=Web3.to_checksum_address(pair_address), abi=pair_build["abi"]
    )
    for token in tokens:
        chain.ok(admin, token.address, token.encode_abi("mint", [pair.address, 1_000 * ETHER]))
    chain.ok(admin, pair.address, pair.encode_abi("mint", [admin]))
    built = compile_file("FlashBorrower.sol")["FlashBorrower"]
    borrower = chain.deploy(admin, built.abi, built.bytecode)
    token0, token1 = chain.read(pair, "token0"), chain.read(pair, "token1")
    first = next(t for t in tokens if str(t.address).lower() == token0)
    chain.ok(admin, first.address, first.encode_abi("mint", [borrower.address, 10 * ETHER]))

    flash = chain.call(sender, borrower, "borrow", pair.address, BORROW, tip, value=ETHER)
    assert flash["status"] == "0x1", flash
    eth = chain.ok(anvil.accounts[3], anvil.accounts[4], "0x", value=2 * ETHER)
    failed = chain.call(sender, borrower, "fail")
    assert failed["status"] == "0x0"

    root = tmp_path_factory.mktemp("plan")
    (root / "Pair.json").write_text(json.dumps(pair_build["abi"]))
    (root / "Token.json").write_text(json.dumps({"abi": oz["abi"]}))
    plan = root / "breakglass.yaml"
    plan.write_text(
        textwrap.dedent(
            f"""
            version: 1
            protocol: Analysis Test
            chains:
              local: {{chain_id: 31337, rpc: ["{anvil.http_url}"]}}
            contracts:
              pair: {{chain: local, address: "{pair_address}", abi: Pair.json}}
              alpha: {{chain: local, address: "{token0}", abi: Token.json}}
            """
        )
    )
    return World(
        anvil=anvil,
        plan=plan,
        pair=pair_address.lower(),
        token0=token0,
        token1=token1,
        borrower=str(borrower.address).lower(),
        sender=sender.lower(),
        tip=tip.lower(),
        flash_receipt=flash,
        eth_receipt=eth,
        failed_receipt=failed,
    )


def _analyze(world: World, receipt: dict[str, Any], **kwargs: Any) -> TxAnalysis:
    async def go() -> TxAnalysis:
        if not kwargs:
            return await analyze_plan_tx(load_plan(world.plan), receipt["transactionHash"])
        pool = EndpointPool([Endpoint(world.anvil.http_url)])
        try:
            return await analyze_tx(pool, receipt["transactionHash"], **kwargs)
        finally:
            await pool.aclose()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def flash(world: World) -> TxAnalysis:
    return _analyze(world, world.flash_receipt)


def test_flash_swap_detected_with_exact_amounts(world: World, flash: TxAnalysis) -> None:
    (loan,) = flash.flash
    assert loan.kind == "uniswap-v2-flash-swap"
    assert (loan.lender, loan.borrower) == (world.pair, world.borrower)
    assert loan.borrowed == {world.token0: BORROW}
    assert loan.repaid == {world.token0: BORROW + FEE}
    assert loan.fees == {world.token0: FEE}


def test_token_transfers_equal_the_receipt_logs(world: World, flash: TxAnalysis) -> None:
    expected = [
        (
            log["address"],
            "0x" + log["topics"][1][-40:],
            "0x" + log["topics"][2][-40:],
            int(log["data"], 16),
            int(log["logIndex"], 16),
        )
        for log in world.flash_receipt["logs"]
        if log["topics"][0] == TRANSFER_TOPIC
    ]
    tokens = [t for t in flash.transfers if t.asset != NATIVE]
    assert [(t.asset, t.from_, t.to, t.amount, t.log_index) for t in tokens] == expected
    assert len(expected) == 2
    native = [(t.from_, t.to, t.amount) for t in flash.transfers if t.asset == NATIVE]
    assert native == [
        (world.sender, world.borrower, ETHER),
        (world.borrower, world.tip, ETHER // 2),
    ]
    seqs = [t.seq for t in flash.transfers if t.seq is not None]
    # execution order, token and native transfers interleaved
    assert len(seqs) == len(flash.transfers) and seqs == sorted(seqs)


def test_balance_changes_are_exact_and_sum_to_zero(world: World, flash: TxAnalysis) -> None:
    assert flash.balance_changes == {
        (world.pair, world.token0): FEE,
        (world.borrower, world.token0): -FEE,
        (world.sender, NATIVE): -ETHER,
        (world.borrower, NATIVE): ETHER // 2,
        (world.tip, NATIVE): ETHER // 2,
    }
    per_asset: defaultdict[str, int] = defaultdict(int)
    for (_, asset), change in flash.balance_changes.items():
        per_asset[asset] += change
    assert set(per_asset.values()) == {0}


def test_native_changes_agree_with_prestate_tracer(world: World, flash: TxAnalysis) -> None:
    check = flash.native_check
    assert check.ok, check.describe()
    receipt = world.flash_receipt
    gas_fee = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert check.gas_fee == gas_fee
    assert check.state[world.sender] == -ETHER - gas_fee
    assert check.state[world.tip] == ETHER // 2
    assert "agree" in check.describe()


def test_call_tree_is_decoded_and_unknown_selectors_stay_raw(flash: TxAnalysis) -> None:
    root = flash.calls
    borrow = Web3.keccak(text="borrow(address,uint256,address)")[:4].hex()
    assert root.function is None and root.selector == "0x" + borrow  # FlashBorrower: no ABI
    swap = root.calls[0]
    assert swap.function == "swap(uint256,uint256,address,bytes)"
    assert swap.args is not None and swap.args[0].value == BORROW
    assert [log.event for log in swap.logs] == [
        "Sync(uint112,uint112)",
        "Swap(address,uint256,uint256,uint256,uint256,address)",
    ]
    names = [node.name for node in root.walk()]
    assert "uniswapV2Call" in names and "transfer" in names and "token0" in names
    text = _console_text(flash)
    assert f"0x{borrow}(<" in text and "bytes raw>)" in text
    assert "pair.swap(" in text and "uniswap-v2-flash-swap" in text


def _console_text(analysis: TxAnalysis) -> str:
    console = Console(width=240, record=True, file=io.StringIO())
    console.print(render_tree(analysis))
    return console.export_text()


def test_json_round_trips(flash: TxAnalysis) -> None:
    text = to_json(flash)
    assert from_json(text) == flash
    doc = json.loads(text)
    assert list(doc)[:4] == ["schema", "tx_hash", "block_number", "status"]
    assert doc["calls"]["function"] is None
    assert doc["flash"][0]["borrowed"] == {k: str(v) for k, v in flash.flash[0].borrowed.items()}
    assert to_json(from_json(text)) == text


def test_svg_parses_and_names_the_plan_contracts(world: World, flash: TxAnalysis) -> None:
    root = ET.fromstring(render_svg(flash))
    texts = [el.text or "" for el in root.iter(f"{SVG}text")]
    assert "pair" in texts and any("alpha" in t for t in texts)
    assert len(list(root.iter(f"{SVG}path"))) >= 4  # one curve per sender, receiver, asset
    titles = {el.text for el in root.iter(f"{SVG}title")}
    assert world.borrower in titles


def test_hostile_names_are_escaped_in_svg(world: World) -> None:
    hostile = '<script>alert("x")</script> & co'
    analysis = _analyze(world, world.flash_receipt, labels={world.pair: hostile})
    svg = render_svg(analysis)
    assert "<script>" not in svg
    root = ET.fromstring(svg)
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert hostile in [el.text for el in root.iter(f"{SVG}text")]


def test_plain_eth_transfer(world: World, anvil: Anvil) -> None:
    analysis = _analyze(world, world.eth_receipt, abis={})
    a, b = anvil.accounts[3].lower(), anvil.accounts[4].lower()
    assert analysis.status == 1 and analysis.flash == []
    assert [(t.asset, t.from_, t.to, t.amount) for t in analysis.transfers] == [
        (NATIVE, a, b, 2 * ETHER)
    ]
    assert analysis.balance_changes == {(a, NATIVE): -2 * ETHER, (b, NATIVE): 2 * ETHER}
    assert analysis.native_check.ok, analysis.native_check.describe()
    assert analysis.calls.function is None and analysis.calls.selector == ""
    assert from_json(to_json(analysis)) == analysis
    ET.fromstring(render_svg(analysis))


def test_reverted_transaction(world: World) -> None:
    analysis = _analyze(world, world.failed_receipt)
    assert analysis.status == 0 and not analysis.succeeded
    assert analysis.transfers == [] and analysis.balance_changes == {} and analysis.flash == []
    assert analysis.calls.error is not None and analysis.calls.reverted
    assert analysis.calls.revert_reason == "FlashBorrower: fail"
    check = analysis.native_check
    assert check.ok, check.describe()  # the sender paid gas and nothing else moved
    assert check.state[world.sender] == -check.gas_fee
    assert "REVERTED" in _console_text(analysis)
    assert from_json(to_json(analysis)) == analysis
    ET.fromstring(render_svg(analysis))


def test_cli_formats(world: World, tmp_path: Path) -> None:
    runner = CliRunner()
    tx_hash = world.flash_receipt["transactionHash"]
    base = ["analyze", "tx", tx_hash, "--plan", str(world.plan)]
    result = runner.invoke(app, [*base, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["flash"][0]["kind"] == "uniswap-v2-flash-swap"
    svg = tmp_path / "flow.svg"
    result = runner.invoke(app, [*base, "--format", "svg", "--out", str(svg)])
    assert result.exit_code == 0, result.output
    ET.parse(svg)
    result = runner.invoke(app, [*base, "--chain", "local"])
    assert result.exit_code == 0, result.output
    assert "uniswapV2Call" in result.stdout
    result = runner.invoke(app, [*base, "--chain", "nope"])
    assert result.exit_code != 0


def test_unknown_transaction_is_an_analysis_error(world: World) -> None:
    with pytest.raises(AnalysisError, match="unknown or not mined"):
        _analyze(world, {"transactionHash": "0x" + "ab" * 32}, abis={})


def test_cli_tree_to_file(world: World, tmp_path: Path) -> None:
    out = tmp_path / "tree.txt"
    tx_hash = world.failed_receipt["transactionHash"]
    result = CliRunner().invoke(
        app, ["analyze", "tx", tx_hash, "--plan", str(world.plan), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "REVERTED" in text and "FlashBorrower: fail" in text
