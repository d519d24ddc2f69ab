"""What a block's fetch brings back, in one batch, on a real anvil."""

from __future__ import annotations

import asyncio

import pytest

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.ingest import BadChainData, BlockFetcher, FetchSpec

pytestmark = pytest.mark.chain


def test_transactions_receipts_and_traces(anvil: Anvil) -> None:
    tx = {"from": anvil.accounts[0], "to": anvil.accounts[1], "value": hex(7)}
    tx_hash = anvil.rpc("eth_sendTransaction", [tx])
    anvil.rpc("evm_mine", [])

    async def scenario() -> None:
        pool = EndpointPool([Endpoint(anvil.http_url)])
        spec = FetchSpec(transactions=True, receipts=True, traces=True)
        fetcher = BlockFetcher(pool, spec)
        try:
            receipt = await pool.request("eth_getTransactionReceipt", [tx_hash])
            header = await fetcher.header_by_hash(receipt["blockHash"])
            block = await fetcher.fetch("local", header, received_at=1.5)
            assert block.block is not None
            assert [t["hash"] for t in block.block["transactions"]] == [tx_hash]
            assert block.receipts is not None and block.receipts[0]["transactionHash"] == tx_hash
            assert block.traces is not None
            call = block.traces[0]["result"]
            assert call["type"] == "CALL" and int(call["value"], 16) == 7
            assert block.received_at == 1.5
            bogus = header.__class__(header.number, "0x" + "ab" * 32, header.parent_hash, 0)
            with pytest.raises(BadChainData):
                await fetcher.header_by_hash(bogus.hash)
        finally:
            await pool.aclose()

    asyncio.run(scenario())
