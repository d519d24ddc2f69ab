"""The incident's transactions read from its chain: the exploit, and the window of traffic
before it that a fork replays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass.analysis.transfers import TRANSFER_TOPIC
from breakglass.recovery.fixspec import FixError
from breakglass.recovery.fork import RemoteChain

__all__ = ["ChainTx", "chain_tx", "exploit_txs", "window_txs"]


@dataclass(slots=True)
class ChainTx:
    """A transaction as sent, and the tokens its receipt shows moving."""

    hash: str
    sender: str
    to: str | None
    data: str
    value: int
    gas: int
    block: int
    index: int
    tokens: set[str] = field(default_factory=set)


def chain_tx(tx: Mapping[str, Any], receipt: Mapping[str, Any]) -> ChainTx:
    tokens = {
        str(log["address"]).lower()
        for log in receipt.get("logs") or ()
        if log.get("topics") and str(log["topics"][0]).lower() == TRANSFER_TOPIC
    }
    to = tx.get("to")
    return ChainTx(
        hash=str(tx["hash"]),
        sender=str(tx["from"]).lower(),
        to=str(to).lower() if to else None,
        data=str(tx.get("input") or tx.get("data") or "0x"),
        value=int(tx.get("value") or "0x0", 16),
        gas=int(tx["gas"], 16),
        block=int(receipt["blockNumber"], 16),
        index=int(receipt["transactionIndex"], 16),
        tokens=tokens,
    )


def exploit_txs(remote: RemoteChain, hashes: Sequence[str]) -> list[ChainTx]:
    found: list[ChainTx] = []
    for tx_hash in hashes:
        tx = remote.rpc("eth_getTransactionByHash", [tx_hash])
        receipt = remote.rpc("eth_getTransactionReceipt", [tx_hash])
        if tx is None or receipt is None:
            raise FixError(f"exploit transaction {tx_hash} is not on the incident's chain")
        found.append(chain_tx(tx, receipt))
    return sorted(found, key=lambda t: (t.block, t.index))


def window_txs(
    remote: RemoteChain, start: int, first: ChainTx, watched: set[str], skip: set[str]
) -> list[tuple[ChainTx, bool]]:
    """Every transaction from block ``start`` up to the first exploit transaction, each with
    whether it is honest traffic of the watched contracts (compared with and without the
    fix). All are replayed, so the fork's state follows the real chain's, attacker's
    preparation included."""
    found: list[tuple[ChainTx, bool]] = []
    for number in range(start, first.block + 1):
        block = remote.rpc("eth_getBlockByNumber", [hex(number), True])
        for tx in (block or {}).get("transactions", ()):
            receipt = remote.rpc("eth_getTransactionReceipt", [tx["hash"]])
            item = chain_tx(tx, receipt)
            if (item.block, item.index) >= (first.block, first.index):
                break
            logs = {str(log["address"]).lower() for log in receipt.get("logs") or ()}
            touches = item.to in watched or bool(logs & watched)
            honest = touches and item.to is not None and item.sender not in skip
            found.append((item, honest))
    return found
