"""``large-outflow`` on anvil: native currency from call traces (Uniswap's WETH9 from npm),
and USD thresholds through a static price or a feed read at the block (the bundled
SettableFeed). Each case has an outflow it must flag and one it must not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from web3 import Web3

from breakglass.contracts import compile_file
from breakglass.detect import Detector, registered_rules
from breakglass.detect.setup import rule_detector
from breakglass.nodepkgs import find_node_file

pytestmark = pytest.mark.chain

E18 = 10**18


def detector(targets: list[tuple[str, str]], **params: Any) -> Detector:
    return rule_detector(
        "large-outflow", targets, chain="local", rule_id="my-outflow", params=params
    )


def deploy(token: Any, abi: Any, bytecode: str, *args: Any) -> Any:
    bytecode = bytecode if bytecode.startswith("0x") else "0x" + bytecode
    factory = Web3().eth.contract(abi=abi, bytecode=bytecode)
    receipt = token.send(
        token.anvil.accounts[0], None, factory.constructor(*args).data_in_transaction
    )
    return token.at(receipt["contractAddress"], abi)


def test_native_outflow_from_traces(token: Any, evaluate: Any) -> None:
    path = find_node_file(Path("node_modules/@uniswap/v2-periphery/build/WETH9.json"))
    assert path is not None, "run npm install"
    built = json.loads(path.read_text())
    weth = deploy(token, built["abi"], built["bytecode"])
    user = token.anvil.accounts[6]
    address = str(weth.address).lower()
    rule = detector([("weth", address)], native=True, threshold=5)
    assert rule.fetch_spec().traces
    assert not detector([("weth", address)], token=address, threshold=5).fetch_spec().traces

    data = weth.encode_abi("deposit", args=[])
    tx = {
        "from": user,
        "to": weth.address,
        "data": data,
        "value": hex(20 * E18),
        "gas": hex(200_000),
    }
    tx_hash = token.anvil.rpc("eth_sendTransaction", [tx])
    receipt = token.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
    assert evaluate(rule, receipt) == []  # into the contract is not an outflow
    assert evaluate(rule, token.call(user, "withdraw", 1 * E18, contract=weth)) == []  # small
    receipt = token.call(user, "withdraw", 6 * E18, contract=weth)
    (finding,) = evaluate(rule, receipt)
    assert finding.title == f"6 native left weth to {user[:6].lower()}…{user[-4:].lower()}"
    assert finding.tx_hash == receipt["transactionHash"]
    assert finding.data == {
        "token": "native",
        "value": 6 * E18,
        "to": user.lower(),
        "price_source": None,
    }


def test_usd_threshold_with_a_static_price(token: Any, evaluate: Any) -> None:
    admin, vault, attacker = (token.anvil.accounts[i] for i in (0, 2, 4))
    token.call(admin, "mint", vault, 2_000 * E18)
    rule = detector(
        [("vault", vault)], token=token.address, threshold_usd=1_000, price={"usd": "2"}
    )
    assert evaluate(rule, token.call(vault, "transfer", attacker, 400 * E18)) == []  # $800
    (finding,) = evaluate(rule, token.call(vault, "transfer", attacker, 600 * E18))
    assert finding.title.endswith("($1,200.00 at static $2)")
    assert finding.data["price_source"] == "static $2"
    assert finding.data["value_usd"] == "1200"


def test_usd_threshold_with_a_feed_read_at_the_block(token: Any, evaluate: Any) -> None:
    admin, vault, attacker = (token.anvil.accounts[i] for i in (0, 3, 5))
    token.call(admin, "mint", vault, 2_000 * E18)
    built = compile_file("SettableFeed.sol")["SettableFeed"]
    feed = deploy(token, built.abi, built.bytecode, 8, "aUSD / USD", 50_000_000)  # $0.50
    source = {"feed": feed.address, "feed_decimals": 8}
    rule = detector([("vault", vault)], token=token.address, threshold_usd=500, price=source)
    assert evaluate(rule, token.call(vault, "transfer", attacker, 600 * E18)) == []  # $300
    token.call(admin, "setAnswer", 200_000_000, contract=feed)  # $2
    (finding,) = evaluate(rule, token.call(vault, "transfer", attacker, 300 * E18))  # $600
    assert finding.data["price_source"] == f"feed {str(feed.address).lower()}"
    assert finding.data["price_usd"] == "2"
    assert finding.data["value_usd"] == "600"


def test_outflow_parameters_are_checked() -> None:
    params = registered_rules()["large-outflow"].Params
    with pytest.raises(ValidationError, match="threshold_usd needs a price"):
        params.model_validate({"token": "0x" + "11" * 20, "threshold_usd": 10})
    with pytest.raises(ValidationError, match=r"params\.token is required"):
        params.model_validate({"threshold": 10})
    with pytest.raises(ValidationError, match="exactly one of threshold or threshold_usd"):
        params.model_validate({"native": True})
