"""A stream wired to the module's anvil, recording what it delivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from breakglass import store
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.ingest import (
    BlockAdded,
    BlockFetcher,
    BlockRemoved,
    BlockStream,
    CheckpointStore,
    StreamEvent,
)


@dataclass
class Recorder:
    events: list[StreamEvent] = field(default_factory=list)

    async def __call__(self, event: StreamEvent) -> None:
        self.events.append(event)

    def trail(self) -> list[tuple[str, int, str]]:
        return [("+" if isinstance(e, BlockAdded) else "-", e.number, e.hash) for e in self.events]

    def view(self) -> dict[int, str]:
        """Block number → hash, replaying additions and removals in order."""
        chain: dict[int, str] = {}
        for event in self.events:
            if isinstance(event, BlockRemoved):
                assert chain.get(event.number) == event.hash, "removed a block never added"
                del chain[event.number]
            else:
                assert event.number not in chain, f"block {event.number} delivered twice"
                chain[event.number] = event.hash
        return chain


@dataclass
class Harness:
    anvil: Anvil
    stream: BlockStream
    fetcher: BlockFetcher
    recorder: Recorder
    loop: asyncio.AbstractEventLoop

    def sync(self) -> None:
        """Feed the stream the chain's current head, as a head source would."""

        async def step() -> None:
            head = await self.fetcher.header_by_number("latest")
            await self.stream.on_head(head)

        self.loop.run_until_complete(step())

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.anvil.rpc("evm_mine", [])

    def follow(self, blocks: int) -> None:
        """Mine blocks one at a time, the stream seeing each head as it comes."""
        for _ in range(blocks):
            self.mine()
            self.sync()

    def rpc(self, method: str, params: list[Any]) -> Any:
        return self.anvil.rpc(method, params)

    def reorg(self, depth: int) -> None:
        """Replace the last ``depth`` blocks; a transfer in the first makes every hash new."""
        transfer = {"from": self.anvil.accounts[0], "to": self.anvil.accounts[1], "value": "0x1"}
        self.anvil.rpc("anvil_reorg", [depth, [[transfer, 0]]])

    def transfer(self) -> None:
        tx = {"from": self.anvil.accounts[0], "to": self.anvil.accounts[2], "value": "0x2"}
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        deadline = time.monotonic() + 5
        # automine answers before the block is stored; the test must see the new head
        while self.anvil.rpc("eth_getTransactionReceipt", [tx_hash]) is None:
            assert time.monotonic() < deadline, "transfer was not mined"
            time.sleep(0.01)

    def height(self) -> int:
        return int(self.anvil.rpc("eth_blockNumber", []), 16)

    def canonical(self, numbers: range) -> dict[int, str]:
        return {n: self.anvil.rpc("eth_getBlockByNumber", [hex(n), False])["hash"] for n in numbers}


@pytest.fixture
def harness(anvil: Anvil, tmp_path: Path) -> Iterator[Harness]:
    url = f"sqlite:///{tmp_path / 'ingest.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    loop = asyncio.new_event_loop()
    pool = EndpointPool([Endpoint(anvil.http_url)])
    fetcher = BlockFetcher(pool)
    recorder = Recorder()
    stream = BlockStream(
        chain="local",
        fetcher=fetcher,
        checkpoints=CheckpointStore(store.session_factory(engine), "local"),
        subscribers=[recorder],
    )
    yield Harness(anvil, stream, fetcher, recorder, loop)
    loop.run_until_complete(pool.aclose())
    loop.close()
    engine.dispose()
