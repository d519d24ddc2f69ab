"""The detector's transaction, trace and state hooks, on real OpenZeppelin bytecode."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from web3 import Web3

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect import (
    Confidence,
    Detector,
    Finding,
    Needs,
    Rule,
    RuleParams,
    RuleSetup,
    Severity,
    StateCall,
    StateReader,
    Target,
)
from breakglass.devchain import Anvil
from breakglass.ingest import BlockAdded, BlockFetcher

pytestmark = pytest.mark.chain

TRANSFER_SELECTOR = "0x" + Web3.keccak(text="transfer(address,uint256)")[:4].hex()


class Spy(Rule, register=False):
    id = "spy"
    title = "test rule"
    category = "test"
    severity = Severity.LOW
    confidence = Confidence.LOW
    description = "records what the detector hands it"
    recommendation = "none"
    needs = Needs.TRANSACTIONS | Needs.RECEIPTS | Needs.TRACES

    def __init__(self, setup: RuleSetup, token: str) -> None:
        super().__init__(setup)
        self.token = token
        self.supply = StateCall(token, "totalSupply()")
        self.broken = StateCall(token, "doesNotExist()")

    def tx_keys(self) -> Iterable[tuple[str | None, str | None]]:
        yield self.token, TRANSFER_SELECTOR

    def on_tx(self, block: BlockAdded, tx: Mapping[str, Any], receipt: Any) -> Iterable[Finding]:
        yield self.finding(
            block, None, title=f"tx {tx['hash']} status {receipt['status']}", description=""
        )

    def on_trace(
        self, block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
    ) -> Iterable[Finding]:
        yield self.finding(block, None, title=f"trace {tx_hash} {call['type']}", description="")

    def state_calls(self) -> Iterable[StateCall]:
        return (self.supply, self.broken)

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        yield self.finding(
            block,
            None,
            title=f"supply {state[self.supply]} broken {state[self.broken]}",
            description="",
        )


def test_tx_trace_and_state_hooks(anvil: Anvil, make_token: Any) -> None:
    token = make_token()
    admin, holder = anvil.accounts[0], anvil.accounts[6]
    token.call(admin, "mint", admin, 50)
    receipt = token.call(admin, "transfer", holder, 20)
    setup = RuleSetup("spy", "local", (Target("token", token.address),), RuleParams())
    detector = Detector("local", [Spy(setup, token.address)])
    spec = detector.fetch_spec()
    assert spec.transactions and spec.receipts and spec.traces

    async def scenario() -> list[Finding]:
        pool = EndpointPool([Endpoint(anvil.http_url)])
        try:
            fetcher = BlockFetcher(pool, spec)
            block = await fetcher.fetch("local", await fetcher.header_by_hash(receipt["blockHash"]))
            state = await StateReader(pool).read(block.hash, detector.state_calls())
            return detector.evaluate(block, state)
        finally:
            await pool.aclose()

    titles = sorted(f.title for f in asyncio.run(scenario()))
    tx = receipt["transactionHash"]
    assert titles == sorted(
        [
            f"tx {tx} status 0x1",
            f"trace {tx} CALL",
            "supply 50 broken None",
        ]
    )
