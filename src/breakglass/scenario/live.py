"""Waiting on a local chain and on the monitor watching it, for the demo and the drills.

These run in the monitor's event loop, so blocking anvil calls go to a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.errors import DevchainError

__all__ = ["anvil_rpc", "wait_processed", "wait_receipt"]


async def anvil_rpc(anvil: Anvil, method: str, *params: Any) -> Any:
    """``anvil.rpc`` without blocking the event loop."""
    return await asyncio.to_thread(anvil.rpc, method, list(params))


async def wait_receipt(
    anvil: Anvil, tx_hash: str, *, timeout: float = 15.0, mine: bool = False
) -> dict[str, Any]:
    """The receipt of ``tx_hash``, mining blocks while waiting when ``mine`` is set.

    Raises:
        DevchainError: not mined within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = await anvil_rpc(anvil, "eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return dict(receipt)
        if mine:
            await anvil_rpc(anvil, "evm_mine")
        await asyncio.sleep(0.01)
    raise DevchainError(f"no receipt for {tx_hash}")


async def wait_processed(
    sessions: sessionmaker[Session],
    chain: str,
    block: int,
    monitor: asyncio.Task[None],
    *,
    timeout: float = 20.0,
) -> None:
    """Wait until the monitor's checkpoint of ``chain`` reaches ``block``.

    Raises:
        DevchainError: the monitor stopped, or did not get there within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if monitor.done():
            monitor.result()
            raise DevchainError("the monitor stopped early")
        with sessions() as session:
            found = store.get_checkpoint(session, chain=chain)
        if found is not None and found.block_number >= block:
            return
        if time.monotonic() > deadline:
            raise DevchainError(f"the monitor did not process block {block} in time")
        await asyncio.sleep(0.02)
