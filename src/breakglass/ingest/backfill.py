"""Backfill: fetch the logs of a block range with ``eth_getLogs``, in adaptive chunks.

Providers cap ``eth_getLogs`` by block span, result count or response size, each with its own
wording. A chunk refused for its size is split in half and fetched again, down to a single
block; after a run of successes the span doubles again up to ``max_range``. Several chunks are
in flight at once, but ``on_logs`` sees them strictly in block order, and after each one the
highest contiguous block done is saved, so a rerun picks up after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog
from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain.codec import CodecError, LogCodec
from breakglass.chain.errors import AllEndpointsFailed, EndpointError, ResponseTooLarge, RpcError
from breakglass.chain.pool import EndpointPool
from breakglass.errors import ChainError, ConfigError
from breakglass.ingest.checkpoint import ChainIdentity, check_chain_identity
from breakglass.plan import LoadedPlan
from breakglass.plan.models.chain import Chain
from breakglass.store import get_checkpoint, save_checkpoint

__all__ = [
    "BackfillCheckpoint",
    "BackfillError",
    "BackfillProgress",
    "BackfillResult",
    "BadBlockRange",
    "PlanTarget",
    "UnknownChain",
    "backfill",
    "backfill_key",
    "check_range",
    "is_range_too_large",
    "plan_target",
]

_log = structlog.get_logger("breakglass.ingest")

OnLogs = Callable[[int, int, list[dict[str, Any]]], Awaitable[None]]

# How providers say "ask for less": geth/erigon, Infura, Alchemy, QuickNode, Ankr, anvil.
_TOO_LARGE_MARKERS = (
    "too many results",
    "query returned more than",
    "response size exceeded",
    "response size should not",
    "block range",
    "range too large",
    "range is too large",
    "range is too wide",
    "too many blocks",
    "exceeds max results",
    "max results",
    "is limited to",
)


class BackfillError(ChainError):
    """A backfill could not run or could not finish."""


class BadBlockRange(BackfillError):
    """The requested block range is empty, negative or beyond the chain's head."""


class UnknownChain(BackfillError):
    """The plan has no chain of that name."""


@dataclass(frozen=True)
class BackfillProgress:
    """Where a running backfill is, reported after every chunk delivered."""

    start: int
    end: int
    done_to: int
    """Highest contiguous block delivered (``start - 1`` before the first chunk)."""
    logs: int
    """Logs delivered in this run."""

    @property
    def total_blocks(self) -> int:
        return self.end - self.start + 1

    @property
    def blocks_done(self) -> int:
        return self.done_to - self.start + 1


@dataclass(frozen=True)
class BackfillResult:
    """What one run did. ``resumed_from`` is the first block fetched in this run."""

    start: int
    end: int
    resumed_from: int
    blocks: int
    logs: int
    chunks: int
    splits: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Logs per second of this run."""
        return self.logs / self.elapsed if self.elapsed > 0 else 0.0


def backfill_key(chain: str, start: int, end: int | str) -> str:
    """The checkpoint key of one backfill, e.g. ``backfill:mainnet:100-latest``."""
    return f"backfill:{chain}:{start}-{end}"


@dataclass
class BackfillCheckpoint:
    """One backfill's progress in the ``checkpoints`` table, under ``key``.

    The row holds the highest block up to which every chunk was delivered.
    """

    sessions: sessionmaker[Session]
    key: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    identity: ChainIdentity | None = None
    """Stamped on every save; set by :meth:`verify`."""

    def verify(self, found: ChainIdentity) -> None:
        """Refuse to resume progress made on another chain; stamp ``found`` from now on.

        Raises:
            ChainMismatch: the saved progress was made on another chain.
        """
        with self.sessions() as session, session.begin():
            check_chain_identity(session, key=self.key, found=found)
        self.identity = found

    def load(self) -> int | None:
        """The highest contiguous block done, or ``None`` when this backfill never ran."""
        with self.sessions() as session:
            row = get_checkpoint(session, chain=self.key)
            return None if row is None else row.block_number

    def save(self, block_number: int, block_hash: str = "") -> None:
        """Record that every block up to ``block_number`` was delivered."""
        with self.sessions() as session, session.begin():
            save_checkpoint(
                session,
                chain=self.key,
                block_number=block_number,
                block_hash=block_hash,
                now=self.clock(),
                chain_id=self.identity.chain_id if self.identity else None,
                genesis_hash=self.identity.genesis_hash if self.identity else None,
            )


def is_range_too_large(error: BaseException) -> bool:
    """Whether ``error`` means "ask for a smaller block range" (on any endpoint tried)."""
    if isinstance(error, AllEndpointsFailed):
        return any(is_range_too_large(e) for e in error.errors)
    if isinstance(error, ResponseTooLarge):
        return True
    if isinstance(error, RpcError):
        text = error.message.lower()
        return any(marker in text for marker in _TOO_LARGE_MARKERS)
    return False


@dataclass
class _Chunk:
    start: int
    end: int
    logs: list[dict[str, Any]]


@dataclass
class _Run:
    """Shared state of one backfill: the cursor, the adaptive span and the delivery order."""

    pool: EndpointPool
    addresses: list[str]
    end: int
    span: int
    max_range: int
    grow_after: int
    on_logs: OnLogs
    checkpoint: BackfillCheckpoint
    progress: Callable[[BackfillProgress], None] | None
    first: int
    next_start: int = 0
    next_deliver: int = 0
    logs: int = 0
    chunks: int = 0
    splits: int = 0
    streak: int = 0
    ready: dict[int, _Chunk] = field(default_factory=dict)
    deliver_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.next_start = self.next_deliver = self.first

    def take(self) -> tuple[int, int] | None:
        if self.next_start > self.end:
            return None
        start = self.next_start
        stop = min(self.end, start + self.span - 1)
        self.next_start = stop + 1
        return start, stop

    async def fetch(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Logs of [start, stop], halving the range whenever an endpoint says it is too much."""
        query: dict[str, Any] = {"fromBlock": hex(start), "toBlock": hex(stop)}
        if self.addresses:
            query["address"] = self.addresses
        try:
            logs = await self.pool.request("eth_getLogs", [query])
        except (EndpointError, AllEndpointsFailed) as exc:
            if not is_range_too_large(exc):
                raise
            if start == stop:
                raise BackfillError(
                    f"block {start} alone is too large for eth_getLogs on every endpoint: {exc}"
                ) from exc
            size = stop - start + 1
            self.splits += 1
            self.streak = 0
            self.span = max(1, min(self.span, size // 2))
            _log.info("backfill.split", start=start, stop=stop, span=self.span)
            middle = start + size // 2 - 1
            return [*await self.fetch(start, middle), *await self.fetch(middle + 1, stop)]
        if not isinstance(logs, list):
            raise BackfillError(
                f"eth_getLogs {start}-{stop} answered {type(logs).__name__}, not a list"
            )
        return logs

    def succeeded(self, size: int) -> None:
        if size < self.span:
            return  # a range clipped by the end or split; says nothing about the span
        self.streak += 1
        if self.streak >= self.grow_after and self.span < self.max_range:
            self.span = min(self.max_range, self.span * 2)
            self.streak = 0

    async def worker(self, window: asyncio.Semaphore) -> None:
        while True:
            await window.acquire()
            taken = self.take()
            if taken is None:
                window.release()
                return
            start, stop = taken
            logs = await self.fetch(start, stop)
            self.succeeded(stop - start + 1)
            self.ready[start] = _Chunk(start, stop, logs)
            await self.deliver(window)

    async def deliver(self, window: asyncio.Semaphore) -> None:
        async with self.deliver_lock:
            while (chunk := self.ready.pop(self.next_deliver, None)) is not None:
                await self.on_logs(chunk.start, chunk.end, chunk.logs)
                self.checkpoint.save(chunk.end)
                self.next_deliver = chunk.end + 1
                self.logs += len(chunk.logs)
                self.chunks += 1
                window.release()
                if self.progress is not None:
                    self.progress(
                        BackfillProgress(
                            start=self.first, end=self.end, done_to=chunk.end, logs=self.logs
                        )
                    )


def check_range(chain: str, start: int, end: int | Literal["latest"]) -> None:
    """Refuse a range that no chain can have, before any call is made.

    Raises:
        BadBlockRange: a negative block number, or ``start`` after ``end``.
    """
    if start < 0 or (end != "latest" and end < 0):
        raise BadBlockRange(f"{chain}: block numbers cannot be negative (from {start} to {end})")
    if end != "latest" and start > end:
        raise BadBlockRange(f"{chain}: --from {start} is after --to {end}")


async def _head(pool: EndpointPool) -> int:
    answer = await pool.request("eth_blockNumber", [])
    if not isinstance(answer, str):
        raise BackfillError(f"eth_blockNumber answered {answer!r}, not a hex number")
    try:
        return int(answer, 16)
    except ValueError:
        raise BackfillError(f"eth_blockNumber answered {answer!r}, not a hex number") from None


async def backfill(
    *,
    pool: EndpointPool,
    chain: str,
    start: int,
    end: int | Literal["latest"],
    addresses: Sequence[str] | None,
    on_logs: OnLogs,
    checkpoint: BackfillCheckpoint,
    concurrency: int = 4,
    initial_range: int = 2000,
    max_range: int = 10_000,
    grow_after: int = 4,
    progress: Callable[[BackfillProgress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BackfillResult:
    """Deliver every log of blocks [start, end] to ``on_logs``, in block order, resumably.

    Args:
        chain: the chain's name in the plan, for messages.
        end: the last block, or ``"latest"`` for the head when the run starts.
        addresses: only logs of these contracts; empty or ``None`` for every log.
        on_logs: awaited once per chunk with ``(from_block, to_block, logs)``; chunks arrive in
            order and without gaps. When it raises, the run stops and the chunk counts as not
            delivered: a rerun hands it over again.
        checkpoint: where progress is kept; a rerun resumes after its block.
        concurrency: ``eth_getLogs`` calls in flight at once.
        initial_range: blocks per call to start with; ``max_range`` caps the growth.
        grow_after: successful full-span calls in a row before the span doubles.

    Raises:
        BadBlockRange: ``start`` or ``end`` negative, ``start > end``, or ``end`` beyond the head.
        ConfigError: ``concurrency``, ``initial_range``, ``max_range`` or ``grow_after`` < 1.
        BackfillError: one block's logs are too large for every endpoint.
        AllEndpointsFailed: the endpoints failed for another reason.
    """
    if min(concurrency, initial_range, max_range, grow_after) < 1:
        raise ConfigError(
            f"backfill needs concurrency ({concurrency}), initial_range ({initial_range}), "
            f"max_range ({max_range}) and grow_after ({grow_after}) of at least 1"
        )
    check_range(chain, start, end)
    began = clock()
    head = await _head(pool)
    last = head if end == "latest" else end
    if start > last:
        raise BadBlockRange(f"{chain}: --from {start} is after the chain's head {head}")
    if last > head:
        raise BadBlockRange(f"{chain}: --to {last} is beyond the chain's head {head}")
    done = checkpoint.load()
    first = start if done is None else max(start, done + 1)
    run = _Run(
        pool=pool,
        addresses=list(addresses or ()),
        end=last,
        span=initial_range,
        max_range=max(max_range, initial_range),
        grow_after=grow_after,
        on_logs=on_logs,
        checkpoint=checkpoint,
        progress=progress,
        first=first,
    )
    if first <= last:
        _log.info("backfill.start", chain=chain, start=first, end=last, resumed=done is not None)
        await _run_workers(run, concurrency)
    elapsed = clock() - began
    result = BackfillResult(
        start=start,
        end=last,
        resumed_from=first,
        blocks=max(0, last - first + 1),
        logs=run.logs,
        chunks=run.chunks,
        splits=run.splits,
        elapsed=elapsed,
    )
    _log.info("backfill.done", chain=chain, blocks=result.blocks, logs=result.logs)
    return result


async def _run_workers(run: _Run, concurrency: int) -> None:
    # Chunks fetched but not yet delivered are bounded, so a slow early chunk cannot make the
    # others pile up the whole range in memory.
    window = asyncio.Semaphore(concurrency * 2)
    tasks = [asyncio.create_task(run.worker(window)) for _ in range(concurrency)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class PlanTarget:
    """What a backfill of one plan chain needs: its endpoints, contract addresses and codecs."""

    chain: Chain
    addresses: list[str]
    codecs: dict[str, LogCodec]
    """Lowercase address → codec of that contract's ABI (contracts with an ABI only)."""

    def count_decoded(self, logs: Sequence[Mapping[str, Any]]) -> int:
        """How many of ``logs`` decode as an event of their contract's ABI."""
        decoded = 0
        for raw in logs:
            address = raw.get("address")
            codec = self.codecs.get(address.lower()) if isinstance(address, str) else None
            if codec is None:
                continue
            try:
                decoded += codec.decode(raw) is not None
            except CodecError:
                continue  # malformed for its ABI: counted as undecoded
        return decoded


def plan_target(loaded: LoadedPlan, chain: str) -> PlanTarget:
    """The chain named ``chain`` in the plan, its contracts' addresses and ABI codecs.

    Raises:
        UnknownChain: the plan has no such chain.
        ConfigError: a contract's ABI file cannot be read or is not a JSON ABI.
    """
    plan = loaded.plan
    config = plan.chains.get(chain)
    if config is None:
        known = ", ".join(sorted(plan.chains)) or "none"
        raise UnknownChain(f"the plan has no chain {chain!r} (chains: {known})")
    addresses: list[str] = []
    codecs: dict[str, LogCodec] = {}
    for name, contract in sorted(plan.contracts.items()):
        if contract.chain != chain:
            continue
        addresses.append(contract.address)
        if contract.abi is not None:
            codecs[contract.address.lower()] = LogCodec.from_abi(
                _read_abi(loaded.base_dir / contract.abi, name), name=name
            )
    return PlanTarget(chain=config, addresses=addresses, codecs=codecs)


def _read_abi(path: Path, contract: str) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"contract {contract}: cannot read ABI {path}: {exc}") from None
    # Build artifacts (solc, Hardhat, Truffle) wrap the ABI in an object.
    if isinstance(data, dict):
        data = data.get("abi")
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ConfigError(f"contract {contract}: {path} holds no JSON ABI list")
    return data
