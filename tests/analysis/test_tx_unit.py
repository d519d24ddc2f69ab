"""Transaction analysis without a chain: the signature table, decoding, flash-loan kinds on
hand-made ``callTracer`` frames, the prestate diff check and SVG escaping."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from breakglass.analysis import NATIVE, NativeCheck, TxAnalysis
from breakglass.analysis.balances import balance_changes, check_native, state_deltas
from breakglass.analysis.flash import find_flash_loans
from breakglass.analysis.render import from_json, render_svg, to_json
from breakglass.analysis.signatures import (
    Decoder,
    check_table,
    parse_function,
    table_functions,
)
from breakglass.analysis.trace import build_tree
from breakglass.analysis.transfers import (
    TRANSFER_TOPIC,
    log_seqs,
    native_transfers,
    ordered,
    token_transfers,
)

LENDER, BORROWER, TOKEN, EOA = ("0x" + c * 40 for c in "1234")


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def calldata(signature: str, types: list[str], values: list[Any]) -> str:
    return selector(signature) + encode(types, values).hex()


def test_signature_table_matches_keccak_and_covers_the_basics() -> None:
    assert check_table() == []
    text = resources.files("breakglass.analysis").joinpath("signatures.json").read_text()
    table = json.loads(text)
    assert table["functions"]["0xa9059cbb"].startswith("transfer(address")
    known = {sig.signature for sig in table_functions().values()}
    for needed in (
        "swap(uint256,uint256,address,bytes)",
        "uniswapV2Call(address,uint256,uint256,bytes)",
        "flashLoan(address,address[],uint256[],uint256[],address,bytes,uint16)",
        "flashLoanSimple(address,address,uint256,bytes,uint16)",
        "executeOperation(address[],uint256[],uint256[],address,bytes)",
        "flashLoan(address,address[],uint256[],bytes)",
        "receiveFlashLoan(address[],uint256[],uint256[],bytes)",
        "flashLoan(address,address,uint256,bytes)",
        "onFlashLoan(address,address,uint256,uint256,bytes)",
        "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)",
        "aggregate3((address,bool,bytes)[])",
        "deposit(uint256,address)",
        "grantRole(bytes32,address)",
        "transferOwnership(address)",
        "pause()",
    ):
        assert needed in known, needed
    assert TRANSFER_TOPIC in table["events"] and len(table["events"][TRANSFER_TOPIC]) == 2


def test_parse_function_handles_tuples_and_returns() -> None:
    sig = parse_function(
        "tryAggregate(bool requireSuccess,(address,bytes)[] calls) returns ((bool,bytes)[])"
    )
    assert sig.signature == "tryAggregate(bool,(address,bytes)[])"
    assert [p.name for p in sig.inputs] == ["requireSuccess", "calls"]
    assert sig.outputs[0].type == "(bool,bytes)[]"


def test_decoder_prefers_the_plan_abi_and_leaves_unknown_raw() -> None:
    abi = [
        {
            "type": "function",
            "name": "transfer",
            "inputs": [{"name": "dst", "type": "address"}, {"name": "wad", "type": "uint256"}],
            "outputs": [],
        }
    ]
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [BORROWER, 5])
    planned = Decoder({TOKEN: abi}).call(TOKEN, data)
    assert planned is not None and [a.name for a in planned[1]] == ["dst", "wad"]
    table = Decoder().call(TOKEN, data, "0x" + "00" * 31 + "01")
    assert table is not None and [a.name for a in table[1]] == ["to", "amount"]
    assert table[1][0].value == BORROWER and table[2] is not None and table[2][0].value is True
    assert Decoder().call(TOKEN, "0xdeadbeef" + "00" * 32) is None
    assert Decoder().call(TOKEN, selector("transfer(address,uint256)") + "00") is None


def _transfer_log(src: str, dst: str, amount: int, position: int) -> dict[str, Any]:
    return {
        "address": TOKEN,
        "topics": [TRANSFER_TOPIC, "0x" + "0" * 24 + src[2:], "0x" + "0" * 24 + dst[2:]],
        "data": "0x" + amount.to_bytes(32, "big").hex(),
        "position": hex(position),
    }


def _token_call(src: str, dst: str, amount: int) -> dict[str, Any]:
    return {
        "type": "CALL",
        "from": src,
        "to": TOKEN,
        "input": calldata("transfer(address,uint256)", ["address", "uint256"], [dst, amount]),
        "value": "0x0",
        "logs": [_transfer_log(src, dst, amount, 0)],
    }


KINDS = {
    "aave-flash-loan": (
        calldata(
            "flashLoanSimple(address,address,uint256,bytes,uint16)",
            ["address", "address", "uint256", "bytes", "uint16"],
            [BORROWER, TOKEN, 1000, b"", 0],
        ),
        calldata(
            "executeOperation(address,uint256,uint256,address,bytes)",
            ["address", "uint256", "uint256", "address", "bytes"],
            [TOKEN, 1000, 9, BORROWER, b""],
        ),
    ),
    "balancer-flash-loan": (
        calldata(
            "flashLoan(address,address[],uint256[],bytes)",
            ["address", "address[]", "uint256[]", "bytes"],
            [BORROWER, [TOKEN], [1000], b""],
        ),
        calldata(
            "receiveFlashLoan(address[],uint256[],uint256[],bytes)",
            ["address[]", "uint256[]", "uint256[]", "bytes"],
            [[TOKEN], [1000], [0], b""],
        ),
    ),
    "erc3156-flash-loan": (
        calldata(
            "flashLoan(address,address,uint256,bytes)",
            ["address", "address", "uint256", "bytes"],
            [BORROWER, TOKEN, 1000, b""],
        ),
        calldata(
            "onFlashLoan(address,address,uint256,uint256,bytes)",
            ["address", "address", "uint256", "uint256", "bytes"],
            [BORROWER, TOKEN, 1000, 9, b""],
        ),
    ),
}


def _loan_trace(lend: str, callback: str, repay_inside: bool) -> dict[str, Any]:
    """EOA → borrower → lender.lend → (token to borrower, callback, repayment)."""
    repay = _token_call(BORROWER, LENDER, 1009)
    back: dict[str, Any] = {"type": "CALL", "from": LENDER, "to": BORROWER, "input": callback}
    swap_away = _token_call(BORROWER, EOA, 1)  # a payment elsewhere: not a repayment
    back["calls"] = [swap_away, repay] if repay_inside else [swap_away]
    lend_frame: dict[str, Any] = {"type": "CALL", "from": BORROWER, "to": LENDER, "input": lend}
    lend_frame["calls"] = [_token_call(LENDER, BORROWER, 1000), back]
    if not repay_inside:  # pulled by the lender after the callback (Aave, ERC-3156)
        lend_frame["calls"].append(_token_call(BORROWER, LENDER, 1009))
    return {
        "type": "CALL",
        "from": EOA,
        "to": BORROWER,
        "input": "0x12345678",
        "value": "0x5",
        "calls": [lend_frame],
    }


def _receipt_logs(trace: dict[str, Any]) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = []

    def visit(frame: dict[str, Any]) -> None:
        for child in frame.get("calls", ()):
            visit(child)
        for log in frame.get("logs", ()):
            logs.append(log)

    visit(trace)  # every log in these traces comes before any later sibling call
    return [
        {**log, "logIndex": hex(i), "blockNumber": "0x1", "transactionHash": "0xab"}
        for i, log in enumerate(logs)
    ]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("repay_inside", [True, False])
def test_flash_loan_kinds(kind: str, repay_inside: bool) -> None:
    lend, callback = KINDS[kind]
    trace = _loan_trace(lend, callback, repay_inside)
    receipt = _receipt_logs(trace)
    root = build_tree(trace, Decoder(), receipt)
    transfers = ordered([*token_transfers(receipt, log_seqs(root)), *native_transfers(root)])
    assert all(t.seq is not None for t in transfers)
    (loan,) = find_flash_loans(root, transfers)
    assert (loan.kind, loan.lender, loan.borrower) == (kind, LENDER, BORROWER)
    assert loan.borrowed == {TOKEN: 1000} and loan.repaid == {TOKEN: 1009}
    assert loan.fees == {TOKEN: 9}
    assert root.function is None and root.selector == "0x12345678"
    changes = balance_changes(transfers)
    assert changes[(BORROWER, TOKEN)] == -10 and changes[(EOA, NATIVE)] == -5
    assert sum(v for (_, a), v in changes.items() if a == TOKEN) == 0


def test_no_loan_without_the_callback() -> None:
    lend, _ = KINDS["erc3156-flash-loan"]
    trace = _loan_trace(lend, "0xdeadbeef", True)
    receipt = _receipt_logs(trace)
    root = build_tree(trace, Decoder(), receipt)
    assert find_flash_loans(root, token_transfers(receipt, log_seqs(root))) == []


def test_reverted_frames_move_nothing() -> None:
    trace = {
        "type": "CALL",
        "from": EOA,
        "to": BORROWER,
        "input": "0x",
        "value": "0x0",
        "calls": [{**_token_call(BORROWER, EOA, 7), "value": "0x9", "error": "execution reverted"}],
    }
    root = build_tree(trace, Decoder(), [])
    assert native_transfers(root) == [] and root.calls[0].reverted
    assert root.calls[0].logs[0].log_index is None


def test_state_deltas_and_mismatch() -> None:
    diff = {
        "pre": {EOA: {"balance": "0x64", "nonce": 1}, LENDER: {"balance": "0x10"}, TOKEN: {}},
        "post": {EOA: {"balance": "0x50", "nonce": 2}, BORROWER: {"balance": "0x4"}},
    }
    assert state_deltas(diff) == {EOA: -20, LENDER: -16, BORROWER: 4}
    changes = {(EOA, NATIVE): -10, (BORROWER, NATIVE): 10}
    check = check_native(
        changes, diff, sender=EOA, gas_fee=10, priority_fee=0, coinbase="0x" + "0" * 40
    )
    assert not check.ok
    assert check.mismatches == {BORROWER: (10, 4), LENDER: (0, -16)}
    assert "DISAGREE" in check.describe()
    assert NativeCheck.from_dict(check.to_dict()) == check


def _tiny_analysis(labels: dict[str, str]) -> TxAnalysis:
    lend, callback = KINDS["balancer-flash-loan"]
    trace = _loan_trace(lend, callback, True)
    receipt = _receipt_logs(trace)
    root = build_tree(trace, Decoder(), receipt)
    transfers = ordered([*token_transfers(receipt, log_seqs(root)), *native_transfers(root)])
    return TxAnalysis(
        tx_hash="0xab",
        block_number=1,
        status=1,
        sender=EOA,
        to=BORROWER,
        value=5,
        gas_used=21000,
        calls=root,
        transfers=transfers,
        balance_changes=balance_changes(transfers),
        flash=find_flash_loans(root, transfers),
        native_check=NativeCheck(ok=False, note="not traced"),
        labels=labels,
    )


def test_svg_escapes_every_text_and_json_round_trips() -> None:
    hostile = "<script>alert(1)</script>"
    analysis = _tiny_analysis({LENDER: hostile, TOKEN: 'tok"&<b>'})
    svg = render_svg(analysis)
    assert "<script>" not in svg and "<b>" not in svg
    root = ET.fromstring(svg)
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert hostile in texts and any('tok"&<b>' in (t or "") for t in texts)
    assert from_json(to_json(analysis)) == analysis
    with pytest.raises(ValueError, match="tx-analysis"):
        from_json(json.dumps({"schema": "other"}))
