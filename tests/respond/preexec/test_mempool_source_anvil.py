"""The guard's pending source asks for whole transactions, and falls back to hashes (fetched
one by one) on a node that refuses them."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.ingest.events import PendingTx
from breakglass.ingest.pending import PendingTxSource

pytestmark = pytest.mark.chain


@pytest.mark.parametrize("serves_full", [True, False], ids=["full", "hashes-only"])
def test_whole_transactions_first_hashes_where_refused(serves_full: bool) -> None:
    with Anvil.start(extra_args=("--no-mining",)) as anvil:
        tx_hash = anvil.rpc(
            "eth_sendTransaction",
            [{"from": anvil.accounts[4], "to": anvil.accounts[5], "value": "0x7"}],
        )
        tx = anvil.rpc("eth_getTransactionByHash", [tx_hash])
        asked: list[list[object]] = []
        seen: list[PendingTx] = []

        async def node(ws: ServerConnection) -> None:
            while True:
                request = orjson.loads(await ws.recv())
                asked.append(request["params"])
                if request["params"] == ["newPendingTransactions", True] and not serves_full:
                    error = {"code": -32602, "message": "invalid params"}
                    await ws.send(
                        orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error})
                    )
                    continue
                await ws.send(
                    orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x1"})
                )
                break
            result = tx if serves_full else tx_hash
            params = {"subscription": "0x1", "result": result}
            await ws.send(
                orjson.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": params})
            )
            await ws.wait_closed()

        async def record(event: PendingTx) -> None:
            seen.append(event)

        async def main() -> PendingTxSource:
            pool = EndpointPool([Endpoint(anvil.http_url)])
            async with serve(node, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                source = PendingTxSource(
                    "local", f"ws://127.0.0.1:{port}", pool, subscribers=[record], full=True
                )
                task = asyncio.ensure_future(source.run())
                try:
                    for _ in range(200):
                        if seen:
                            break
                        await asyncio.sleep(0.02)
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    await pool.aclose()
            return source

        source = asyncio.run(main())

    assert [event.hash for event in seen] == [tx_hash.lower()]
    assert int(seen[0].tx["value"], 16) == 7
    if serves_full:
        assert asked == [["newPendingTransactions", True]] and source.full
    else:
        assert asked == [["newPendingTransactions", True], ["newPendingTransactions"]]
        assert not source.full
