"""From a block's raw data to the contracts it created, and the fork each is judged on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from breakglass.analysis.cluster import create_address
from breakglass.detect.traces import CREATES, address, walk
from breakglass.ingest.events import BlockAdded, BlockHeader, PendingTx
from breakglass.respond.preexec.attack_contract import Creation, ForkFactory
from breakglass.respond.preexec.fork_evm import Fork, NextBlock
from breakglass.respond.preexec.fork_node import Backend, open_fork

__all__ = ["block_creations", "creation_forks", "pending_creation", "traced_creations"]


def _creation(
    block: BlockAdded,
    tx_hash: str,
    created: str,
    *,
    deployer: str,
    nonce: int | None,
    code: str,
    creator: str | None = None,
) -> Creation:
    return Creation(
        address=created.lower(),
        deployer=deployer.lower(),
        tx_hash=tx_hash.lower(),
        deployer_nonce=nonce,
        init_code=bytes.fromhex(code.removeprefix("0x")),
        block_number=block.number,
        block_hash=block.hash,
        timestamp=block.header.timestamp,
        creator=creator.lower() if creator else None,
    )


def _nonce(block: BlockAdded, tx_hash: str) -> int | None:
    """The nonce of the block's transaction ``tx_hash`` (``None`` without bodies)."""
    for tx in (block.block or {}).get("transactions", ()):
        if isinstance(tx, dict) and str(tx.get("hash", "")).lower() == tx_hash.lower():
            return int(str(tx.get("nonce") or "0x0"), 16)
    return None


def block_creations(block: BlockAdded) -> Iterator[Creation]:
    """Contracts created by the block's transactions without a recipient (the common
    deployment): the receipt's address where receipts were fetched (a failed creation is
    left out), else the address ``CREATE`` gives the sender at the transaction's nonce."""
    receipts = block.receipts or ()
    for index, tx in enumerate((block.block or {}).get("transactions", ())):
        if not isinstance(tx, dict) or tx.get("to"):
            continue
        sender = str(tx.get("from") or "")
        nonce = int(str(tx.get("nonce") or "0x0"), 16)
        receipt = receipts[index] if index < len(receipts) else None
        if receipt is not None:
            if receipt.get("status") == "0x0" or not receipt.get("contractAddress"):
                continue
            created = str(receipt["contractAddress"])
        else:
            created = create_address(sender, nonce)
        yield _creation(
            block,
            str(tx.get("hash") or ""),
            created,
            deployer=sender,
            nonce=nonce,
            code=str(tx.get("input") or "0x"),
        )


def traced_creations(
    block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
) -> Iterator[Creation]:
    """Contracts created by contracts within one transaction's ``callTracer`` frame (the
    transaction's own creation is in its receipt)."""
    for frame, ancestors in walk(call):
        if frame.get("type") in CREATES and ancestors:
            yield _creation(
                block,
                tx_hash,
                address(frame, "to"),
                deployer=address(call, "from"),
                nonce=_nonce(block, tx_hash),
                code=str(frame.get("input") or "0x"),
                creator=address(frame, "from"),
            )


def pending_creation(pending: PendingTx, head: BlockHeader) -> Creation | None:
    """The deployment ``pending`` would make after ``head``; ``None`` when it calls a
    contract instead. Its address is the one the fork gives it (the sender's nonce there)."""
    tx = pending.tx
    if tx.get("to"):
        return None
    code = str(tx.get("input") or tx.get("data") or "0x")
    return Creation(
        address="",
        deployer=str(tx.get("from") or "").lower(),
        tx_hash=pending.hash.lower(),
        deployer_nonce=int(str(tx.get("nonce") or "0x0"), 16),
        init_code=bytes.fromhex(code.removeprefix("0x")),
        block_number=head.number,
        block_hash=head.hash,
        timestamp=head.timestamp,
        pending=True,
        value=int(str(tx.get("value") or "0x0"), 16),
    )


def creation_forks(
    url: str, *, chain_id: int, block_time: float | None, backend: Backend
) -> ForkFactory:
    """Forks of the state after each creation's block (or, for a pending one, its head),
    whose calls run in the next block, a block time later."""
    step = max(1, round(block_time or 1))
    client = httpx.Client()  # the node simulator's; pyrevm has its own

    def fork(creation: Creation) -> Fork:
        return open_fork(
            url,
            at=creation.block_hash,
            next_block=NextBlock(creation.block_number + 1, creation.timestamp + step),
            chain_id=chain_id,
            backend=backend,
            client=client,
        )

    return fork
