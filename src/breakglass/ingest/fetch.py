"""Fetching what subscribers need for a block, in one batched round trip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from breakglass.chain.pool import EndpointPool
from breakglass.chain.rpc import Call
from breakglass.ingest.events import BadChainData, BlockAdded, BlockHeader

__all__ = ["BlockFetcher", "FetchSpec"]

Decoder = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class FetchSpec:
    """What to fetch per block. Receipts and traces cost most; fetch them only when a rule
    needs them. ``addresses`` narrows the logs to watched contracts."""

    transactions: bool = False
    logs: bool = True
    receipts: bool = False
    traces: bool = False
    addresses: Sequence[str] = ()


@dataclass
class BlockFetcher:
    pool: EndpointPool
    spec: FetchSpec = FetchSpec()
    decode: Decoder | None = None

    async def header_by_hash(self, block_hash: str) -> BlockHeader:
        raw = await self.pool.request("eth_getBlockByHash", [block_hash, False])
        if raw is None:
            raise BadChainData(f"block {block_hash[:10]}… not found")
        return BlockHeader.from_rpc(raw)

    async def header_by_number(self, number: int | str) -> BlockHeader:
        tag = hex(number) if isinstance(number, int) else number
        raw = await self.pool.request("eth_getBlockByNumber", [tag, False])
        if raw is None:
            raise BadChainData(f"block {tag} not found")
        return BlockHeader.from_rpc(raw)

    async def fetch(self, chain: str, header: BlockHeader, received_at: float = 0.0) -> BlockAdded:
        """Everything ``spec`` asks for about ``header``'s block, as one batch.

        Raises:
            BadChainData: an answer has the wrong shape or names another block.
            ChainError: every endpoint failed.
        """
        spec = self.spec
        calls: list[Call] = []
        if spec.transactions:
            calls.append(("eth_getBlockByHash", [header.hash, True]))
        if spec.logs:
            log_filter: dict[str, Any] = {"blockHash": header.hash}
            if spec.addresses:
                log_filter["address"] = list(spec.addresses)
            calls.append(("eth_getLogs", [log_filter]))
        if spec.receipts:
            calls.append(("eth_getBlockReceipts", [header.hash]))
        if spec.traces:
            calls.append(("debug_traceBlockByHash", [header.hash, {"tracer": "callTracer"}]))
        results = list(await self.pool.batch(calls)) if calls else []
        block = results.pop(0) if spec.transactions else None
        if spec.transactions and (not isinstance(block, dict) or block.get("hash") != header.hash):
            raise BadChainData(f"block {header.number} body does not match its header")
        logs = results.pop(0) if spec.logs else []
        if not isinstance(logs, list) or any(
            not isinstance(log, dict)
            or str(log.get("blockHash", header.hash)).lower() != header.hash
            for log in logs
        ):
            raise BadChainData(f"logs of block {header.number} are malformed")
        receipts = results.pop(0) if spec.receipts else None
        traces = results.pop(0) if spec.traces else None
        decoded: list[Any] = []
        if self.decode is not None:
            decode = self.decode
            decoded = [d for d in map(decode, logs) if d is not None]
        return BlockAdded(
            chain=chain,
            header=header,
            block=block,
            logs=logs,
            receipts=receipts,
            traces=traces,
            decoded=decoded,
            received_at=received_at,
        )
