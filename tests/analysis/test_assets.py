"""Assets in human terms: units read from real tokens on anvil, exact formatting, names, links."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from web3 import Web3

from breakglass.analysis import assets
from breakglass.analysis.assets import (
    AssetInfo,
    decode_symbol,
    explorer_link,
    format_amount,
    name_address,
    plan_names,
    read_asset,
    short_address,
)
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.plan import load_plan

E18 = 10**18


def _deploy(anvil: Anvil, data: str) -> str:
    tx = {"from": anvil.accounts[0], "data": data, "gas": hex(6_000_000)}
    tx_hash = anvil.rpc("eth_sendTransaction", [tx])
    for _ in range(200):  # automine answers before the receipt is stored
        receipt = anvil.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            break
        time.sleep(0.02)
    assert receipt is not None and receipt["status"] == "0x1", receipt
    return str(receipt["contractAddress"])


def _returning_word(word: bytes) -> str:
    """Init code of a contract that answers every call with the 32-byte ``word``, as a
    bytes32 ``symbol()`` does (and, nonsensically, ``decimals()`` too)."""
    runtime = b"\x7f" + word + bytes.fromhex("60005260206000f3")
    size = len(runtime)
    init = bytes([0x60, size, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, size, 0x60, 0x00, 0xF3])
    return "0x" + (init + runtime).hex()


def _read(anvil: Anvil, address: str, chain: str = "local") -> AssetInfo:
    async def go() -> AssetInfo:
        pool = EndpointPool([Endpoint(anvil.http_url)])
        try:
            return await read_asset(pool=pool, chain=chain, address=address)
        finally:
            await pool.aclose()

    return asyncio.run(go())


@pytest.mark.chain
def test_reads_symbol_and_decimals_of_a_real_token_once(anvil: Anvil) -> None:
    path = find_node_file(
        Path("node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")
    )
    assert path is not None, "run npm install"
    built = json.loads(path.read_text())
    data = Web3().eth.contract(abi=built["abi"], bytecode=built["bytecode"])
    address = _deploy(anvil, data.constructor("Demo USD", "dUSD").data_in_transaction)
    assert _read(anvil, address) == AssetInfo("dUSD", 18)
    assert assets.cached_asset(chain="local", address=address.upper().replace("0X", "0x")) == (
        AssetInfo("dUSD", 18)
    )
    assert assets.cached_asset(chain="other", address=address) is None
    anvil.rpc("anvil_setCode", [address, "0x"])  # gone from the chain: the cache answers
    assert _read(anvil, address) == AssetInfo("dUSD", 18)


@pytest.mark.chain
def test_bytes32_symbols_and_tokens_without_them(anvil: Anvil) -> None:
    mkr = _deploy(anvil, _returning_word(b"MKR".ljust(32, b"\0")))
    assert _read(anvil, mkr) == AssetInfo("MKR", None)  # its "decimals" is not a number of 0-77
    reverting = _deploy(anvil, "0x600580600b6000396000f360006000fd")  # runtime: revert(0, 0)
    assert _read(anvil, reverting) == AssetInfo(None, None)
    account = anvil.accounts[7]  # no code at all
    assert _read(anvil, account) == AssetInfo(None, None)


def test_decode_symbol() -> None:
    string = "0x" + "20".rjust(64, "0") + "4".rjust(64, "0") + b"dUSD".hex().ljust(64, "0")
    assert decode_symbol(bytes.fromhex(string[2:])) == "dUSD"
    assert decode_symbol(b"SAI".ljust(32, b"\0")) == "SAI"
    assert decode_symbol(b"\0" * 32) is None
    assert decode_symbol(b"") is None
    assert decode_symbol(b"A\nB\x1b[31m".ljust(32, b"\0")) == "AB[31m"


@pytest.mark.parametrize(
    ("value", "decimals", "symbol", "shown"),
    [
        (18_333_333_333_333_333_333_333, 18, "dUSD", "18,333.33 dUSD"),
        (110_000 * E18, 18, "dUSD", "110,000 dUSD"),
        (440_000 * E18 + 5 * 10**16, 18, "dUSD", "440,000.05 dUSD"),
        (1_234_500_000, 6, "USDC", "1,234.5 USDC"),
        (
            2**256 - 1,
            18,
            "X",
            "115,792,089,237,316,195,423,570,985,008,687,907,853,269,984,665,640,564,039,457.58 X",
        ),
        (1, 18, "dUSD", "<0.01 dUSD"),
        (0, 18, "dUSD", "0 dUSD"),
        (-25 * E18, 18, None, "-25"),
        (123456, None, "dUSD", "123,456 base units of dUSD"),
        (123456, None, None, "123,456 base units"),
    ],
)
def test_format_amount_is_exact_from_base_units(
    value: int, decimals: int | None, symbol: str | None, shown: str
) -> None:
    assert format_amount(value, decimals=decimals, symbol=symbol) == shown


def test_names_and_links() -> None:
    plan = load_plan(Path("examples/plans/full.yaml")).plan
    names = plan_names(plan)
    pool = plan.contracts["pool"].address
    assert name_address(pool.upper().replace("0X", "0x"), names) == "pool"
    stranger = "0x663f3ad617193148711d28f5334ee4ed070166d0"
    assert name_address(stranger, names) == "0x663f…66d0"
    assert short_address("not an address") == "not an address"
    explorer = plan.chains["mainnet"].explorer
    assert explorer == "https://etherscan.io"
    tx = "0x" + "ab" * 32
    assert explorer_link(explorer, "tx", tx) == f"https://etherscan.io/tx/{tx}"
    assert explorer_link(explorer + "/", "block", 7) == "https://etherscan.io/block/7"
    assert explorer_link(None, "address", stranger) is None
