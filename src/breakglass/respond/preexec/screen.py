"""Screening pending transactions: which touch watched contracts, and what would they do.

A pending transaction is kept when it calls a watched contract, names one in its calldata,
or calls a contract whose runtime code embeds a watched address (an attack contract built
against the protocol holds its target as a constant or an immutable). The code of each
called address is read once and its verdict cached, in a bounded table: a flood of calls to
fresh addresses costs one ``eth_getCode`` each, never unbounded memory.

A kept transaction is simulated on the latest state with ``debug_traceCall`` and the call
tracer with logs: one round trip gives the call frames, the logs of every frame that did not
revert and whether the whole call reverts. From those the screen builds a synthetic
:class:`~breakglass.ingest.events.BlockAdded` holding only that transaction (its hash stands
for the block's) and hands it to a :class:`~breakglass.detect.engine.Detector` built from the
plan's own rules, so the pending transaction is judged by the same rules as a mined one.

Rules that read contract state with view calls per block (invariants, TVL and balance drops,
oracle deviation) get no state for a pending transaction and stay silent on it: they compare
one block's state with the block before, and a pending transaction has no block of its own.
Rules on logs, transactions and traces (large outflows, reentrancy, flash-loan profit,
privileged calls, known exploiters, upgrades...) all apply.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from breakglass.detect.engine import Detector
from breakglass.detect.finding import Finding, Severity
from breakglass.detect.rule import Rule
from breakglass.errors import BreakglassError
from breakglass.ingest.events import BlockAdded, BlockHeader, PendingTx
from breakglass.plan.loader import LoadedPlan

__all__ = [
    "CREATION_RULES",
    "PendingScreen",
    "Rpc",
    "ScreenStats",
    "Screened",
    "pending_detector",
    "synthetic_block",
    "watched_addresses",
]

_log = structlog.get_logger("breakglass.respond")

_TRACER = {"tracer": "callTracer", "tracerConfig": {"withLog": True}}


class Rpc(Protocol):
    async def request(self, method: str, params: Sequence[Any] = ()) -> Any: ...

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]: ...


def watched_addresses(loaded: LoadedPlan, chain: str, rules: Iterable[Rule] = ()) -> set[str]:
    """The plan's contracts on ``chain`` and every address a rule listens to, lowercase."""
    found = {c.address.lower() for c in loaded.plan.contracts.values() if c.chain == chain}
    for rule in rules:
        found.update(address.lower() for address, _ in rule.log_keys())
        found.update(to.lower() for to, _ in rule.tx_keys() if to)
    return found


CREATION_RULES = frozenset({"attack-contract"})
"""Rule types that judge contract creations with a simulator of their own: they are not run
on a pending call's synthetic block (they would start that simulator for nothing); the
guard hands them pending creations instead."""


def pending_detector(chain: str, rules: Sequence[Rule]) -> Detector:
    """A detector of ``rules`` for pending transactions (without :data:`CREATION_RULES`).

    Build it from rules of its own (not the monitor's instances): rules with memory must not
    mix pending transactions into what they remember of mined blocks.
    """
    calls = [rule for rule in rules if type(rule).id not in CREATION_RULES]
    return Detector(chain, calls, report_disabled=False)


@dataclass
class ScreenStats:
    """Counters since the screen was created."""

    screened: int = 0
    kept: int = 0
    simulated: int = 0
    reverted: int = 0
    critical: int = 0
    failed: int = 0
    code_lookups: int = 0
    discarded: int = 0  # simulated alongside a code read that showed no watched address


@dataclass(frozen=True, slots=True)
class Screened:
    """What the screen made of one pending transaction.

    ``findings`` are every rule's findings on its simulation; ``critical`` those that may
    start a front-running pause. ``seconds`` is the time the screen spent on it.
    """

    pending: PendingTx
    kept: bool
    simulated: bool = False
    reverted: bool = False
    findings: tuple[Finding, ...] = ()
    seconds: float = 0.0
    trace: Mapping[str, Any] | None = None

    @property
    def critical(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.CRITICAL)


@dataclass
class PendingScreen:
    """Keeps the pending transactions that touch ``watched`` and judges their simulation.

    Args:
        chain: the plan's name for the chain.
        detector: the rules (see :func:`pending_detector`).
        rpc: the chain (simulation and code reads).
        watched: lowercase addresses of the protocol's contracts.
        code_cache: how many called addresses' verdicts are remembered.
    """

    chain: str
    detector: Detector
    rpc: Rpc
    watched: set[str]
    code_cache: int = 20_000
    head: int = 0
    """The latest block number seen; findings on a pending transaction are placed in the
    block after it."""
    stats: ScreenStats = field(default_factory=ScreenStats)
    _refers: OrderedDict[str, bool] = field(default_factory=OrderedDict, init=False, repr=False)
    _needles: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.watched = {a.lower() for a in self.watched}
        self._needles = tuple(a.removeprefix("0x") for a in self.watched)

    async def screen(self, pending: PendingTx) -> Screened:
        """Keep or drop ``pending``; simulate and judge what is kept. Never raises for the
        chain's trouble: a failed simulation is counted and logged, and judged as nothing.

        A call to an address whose code is not known yet reads the code and simulates in
        the same round trip: a fresh attack contract costs no extra round trip before the
        pause, an unrelated one a simulation that is thrown away (once per address).
        """
        started = time.perf_counter()
        self.stats.screened += 1
        tx = pending.tx
        verdict = self._known(tx)
        if verdict is False:
            return Screened(pending, kept=False, seconds=time.perf_counter() - started)
        try:
            code, frame, latest = await self._simulate(tx, read_code=verdict is None)
        except (BreakglassError, ValueError, TypeError, KeyError) as exc:
            self.stats.failed += 1
            _log.warning("respond.pending_sim_failed", tx=pending.hash, error=str(exc)[:200])
            return Screened(pending, kept=True, seconds=time.perf_counter() - started)
        if code is not None and not self._remember(str(tx["to"]).lower(), code):
            self.stats.discarded += 1
            return Screened(pending, kept=False, seconds=time.perf_counter() - started)
        self.stats.kept += 1
        self.stats.simulated += 1
        if frame.get("error"):
            # It would revert on the latest state: it can take nothing as it stands.
            self.stats.reverted += 1
            return Screened(
                pending, True, True, True, seconds=time.perf_counter() - started, trace=frame
            )
        block = synthetic_block(self.chain, pending, frame, number=latest + 1)
        findings = tuple(self.detector.evaluate(block))
        screened = Screened(
            pending, True, True, False, findings, time.perf_counter() - started, frame
        )
        if screened.critical:
            self.stats.critical += 1
        return screened

    async def touches(self, tx: Mapping[str, Any]) -> bool:
        """Whether ``tx`` calls a watched contract, names one in its calldata, or calls a
        contract whose code embeds one (read once per address)."""
        verdict = self._known(tx)
        if verdict is not None:
            return verdict
        address = str(tx["to"]).lower()
        try:
            code = await self.rpc.request("eth_getCode", [address, "latest"])
        except BreakglassError as exc:
            _log.warning("respond.pending_code_failed", address=address, error=str(exc)[:200])
            return True  # unknown is suspect: simulate rather than miss it
        return self._remember(address, code)

    def _known(self, tx: Mapping[str, Any]) -> bool | None:
        """Whether ``tx`` touches a watched contract, as far as known without the code of
        the address it calls (``None``: that code decides)."""
        to = str(tx.get("to") or "").lower()
        if not to:
            return False  # a creation: attack-contract simulation judges those
        if to in self.watched:
            return True
        data = str(tx.get("input") or tx.get("data") or "").lower()
        if len(data) > 10 and any(needle in data for needle in self._needles):
            return True
        known = self._refers.get(to)
        if known is not None:
            self._refers.move_to_end(to)
        return known

    def _remember(self, address: str, code: object) -> bool:
        self.stats.code_lookups += 1
        text = str(code or "").lower()
        refers = any(needle in text for needle in self._needles)
        self._refers[address] = refers
        if len(self._refers) > self.code_cache:
            self._refers.popitem(last=False)
        return refers

    async def _simulate(
        self, tx: Mapping[str, Any], *, read_code: bool
    ) -> tuple[object, dict[str, Any], int]:
        call: dict[str, Any] = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx.get("input") or tx.get("data") or "0x",
            "value": tx.get("value") or "0x0",
        }
        if tx.get("gas"):
            call["gas"] = tx["gas"]
        # On the latest state: "pending" would run the other pending transactions first,
        # the exploit itself among them on a node that includes it. The head number rides
        # along in the same round trip, and the called code when it is not known yet.
        calls: list[tuple[str, Sequence[Any]]] = [
            ("debug_traceCall", [call, "latest", _TRACER]),
            ("eth_blockNumber", []),
        ]
        if read_code:
            calls.append(("eth_getCode", [tx["to"], "latest"]))
        results = await self.rpc.batch(calls)
        frame, head = results[0], results[1]
        if not isinstance(frame, dict):
            raise TypeError("debug_traceCall did not return a call frame")
        self.head = max(self.head, int(head, 16))
        return (results[2] if read_code else None), frame, self.head


def _frame_logs(frame: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Logs of ``frame`` and its sub-calls in execution order, skipping reverted frames."""
    if frame.get("error"):
        return
    logs = sorted(frame.get("logs") or (), key=lambda log: int(log.get("position", "0x0"), 16))
    calls = list(frame.get("calls") or ())
    emitted = 0
    for index, call in enumerate(calls):
        while emitted < len(logs) and int(logs[emitted].get("position", "0x0"), 16) <= index:
            yield logs[emitted]
            emitted += 1
        yield from _frame_logs(call)
    yield from logs[emitted:]


def synthetic_block(
    chain: str, pending: PendingTx, frame: Mapping[str, Any], *, number: int
) -> BlockAdded:
    """A block holding only ``pending``, with the logs and the call frame of its simulation.

    The transaction's hash stands for the block's: findings on it are keyed by the
    transaction either way.
    """
    tx_hash = pending.hash
    logs = [
        {
            "address": str(log.get("address", "")).lower(),
            "topics": list(log.get("topics") or ()),
            "data": log.get("data") or "0x",
            "blockNumber": hex(number),
            "blockHash": tx_hash,
            "transactionHash": tx_hash,
            "transactionIndex": "0x0",
            "logIndex": hex(index),
            "removed": False,
        }
        for index, log in enumerate(_frame_logs(frame))
    ]
    header = BlockHeader(number, tx_hash, "0x" + "00" * 32, int(time.time()))
    tx = {**pending.tx, "blockNumber": None, "blockHash": None}
    receipt = {
        "transactionHash": tx_hash,
        "transactionIndex": "0x0",
        "from": tx.get("from"),
        "to": tx.get("to"),
        "status": "0x1",
        "gasUsed": frame.get("gasUsed", "0x0"),
        "logs": logs,
        "contractAddress": None,
    }
    body = {
        "number": hex(number),
        "hash": tx_hash,
        "parentHash": header.parent_hash,
        "timestamp": hex(header.timestamp),
        "transactions": [tx],
    }
    return BlockAdded(
        chain,
        header,
        block=body,
        logs=logs,
        receipts=[receipt],
        traces=[{"txHash": tx_hash, "result": frame}],
        received_at=pending.received_at,
    )
