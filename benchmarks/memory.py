"""Memory over a long run: resident size after 1,000 and after 5,000 streamed blocks.

A local anvil with ``--prune-history`` (so mining stays fast) mines blocks in batches with
``anvil_mine``; each batch starts with an EventStorm ``storm(k)`` transaction, so some blocks
carry logs. After each batch the new headers are fetched in one JSON-RPC batch and fed to a
``BlockStream`` with ``on_head`` one by one, as a head source would; the stream fetches each
block's logs and decodes them with a ``LogCodec``. Resident size is ``VmRSS`` from
``/proc/self/status``, read after a ``gc.collect()``.

Budget (DESIGN.md, "memory stays flat"): RSS at 5,000 blocks within 10% of RSS at 1,000.

    .venv/bin/python benchmarks/memory.py [--blocks 5000] [--batch 100] [--pairs 5]
                                       [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import tempfile
import time
from pathlib import Path

from web3 import Web3

from breakglass import store
from breakglass.chain.codec import LogCodec
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.ingest.checkpoint import CheckpointStore
from breakglass.ingest.events import BlockAdded, BlockHeader, StreamEvent
from breakglass.ingest.fetch import BlockFetcher, FetchSpec
from breakglass.ingest.stream import BlockStream
from breakglass.logs import configure_logging
from breakglass.scenario.setup import SetupChain


def rss_kib() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def run(
    anvil: Anvil, address: str, data: str, codec: LogCodec, args: argparse.Namespace
) -> None:
    pool = EndpointPool([Endpoint(anvil.http_url)])
    fetcher = BlockFetcher(pool, FetchSpec(addresses=[address]), decode=codec.decode)
    delivered = 0
    decoded = 0

    async def subscriber(event: StreamEvent) -> None:
        nonlocal delivered, decoded
        if isinstance(event, BlockAdded):
            delivered += 1
            decoded += len(event.decoded)

    # Delivery is checkpointed in SQLite as in production, so the store's memory counts too.
    home = tempfile.mkdtemp(prefix="bg-memory-")
    url = f"sqlite:///{home}/memory.db"
    store.upgrade(url)
    engine = store.make_engine(url)
    checkpoints = CheckpointStore(store.session_factory(engine), "local")
    stream = BlockStream("local", fetcher, checkpoints=checkpoints, subscribers=[subscriber])
    tx = {"from": anvil.accounts[0], "to": address, "data": data, "gas": hex(5_000_000)}
    start = int(await pool.request("eth_blockNumber", []), 16)
    stream_start = start + 1
    await stream.on_head(await fetcher.header_by_number(start))
    delivered = 0  # count from the next block on
    marks = {m for m in range(1000, args.blocks + 1, 1000)}
    readings: dict[int, int] = {}
    t0 = time.perf_counter()
    mined = start
    while delivered < args.blocks:
        count = min(args.batch, args.blocks - delivered)
        await pool.request("eth_sendTransaction", [tx])
        await pool.request("anvil_mine", [hex(count)])
        calls = [
            ("eth_getBlockByNumber", [hex(n), False]) for n in range(mined + 1, mined + count + 1)
        ]
        mined += count
        for raw in await pool.batch(calls):
            await stream.on_head(BlockHeader.from_rpc(raw))
            if delivered in marks and delivered not in readings:
                readings[delivered] = rss_kib()
                print(
                    f"block {delivered:5d} (#{stream_start + delivered - 1}): "
                    f"RSS {readings[delivered] / 1024:7.1f} MiB, {decoded} logs decoded, "
                    f"{time.perf_counter() - t0:5.1f} s"
                )
    await pool.aclose()
    engine.dispose()
    shutil.rmtree(home, ignore_errors=True)
    first, last = readings[1000], readings[max(readings)]
    print(f"RSS at 1,000 blocks: {first / 1024:.1f} MiB ({first} KiB)")
    print(f"RSS at {max(readings):,} blocks: {last / 1024:.1f} MiB ({last} KiB)")
    ratio = last / first
    print(f"ratio: {ratio:.3f}  (target within 10%: {'yes' if ratio <= 1.10 else 'NO'})")
    tip = stream.tip
    assert tip is not None and tip.number == mined, (tip, mined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100, help="blocks per anvil_mine")
    parser.add_argument("--pairs", type=int, default=5, help="storm(k) per batch: 2k logs")
    parser.add_argument("--smoke", action="store_true", help="1,000 blocks, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.blocks = 1000
    if args.blocks < 1000:
        parser.error("--blocks must be at least 1000")
    configure_logging("WARNING")

    compiled = compile_file("EventStorm.sol")["EventStorm"]
    codec = LogCodec.from_abi(compiled.abi, name="EventStorm")
    with Anvil.start(extra_args=("--prune-history",)) as anvil:
        # Waits for the receipt: automine can answer the send before the receipt is stored.
        address = SetupChain(anvil).deploy(anvil.accounts[0], compiled.bytecode)
        anvil.rpc("evm_setAutomine", [False])
        contract = Web3().eth.contract(address=Web3.to_checksum_address(address), abi=compiled.abi)
        data = contract.functions.storm(args.pairs)._encode_transaction_data()
        asyncio.run(run(anvil, address, data, codec, args))


if __name__ == "__main__":
    main()
