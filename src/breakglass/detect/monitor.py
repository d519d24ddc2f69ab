"""Watching one chain of a plan: heads → blocks → rules → alerts, exactly once.

Detection runs in the block stream's transactional sink, so a block's alerts, and the
``AlertRaised`` events that tell the other stages of them, are stored in the same database
transaction that moves the checkpoint: a crash before the commit loses all of them and the
block is delivered again; a crash after it never redelivers the block, and the outbox relay
delivers the events whenever it runs next. The monitor only says when it committed
(``on_commit``, where the composition root wakes its relay): an alert flood or a slow desk
never holds up the next block or its reaction, and nothing is handed over in memory.

The responder is the exception, on purpose: it gets each block's findings directly, before
anything is stored, so a pause never waits for the database or the bus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Coroutine,
    Sequence,
)
from datetime import UTC, datetime
from functools import partial
from importlib import import_module
from typing import Any, Protocol

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain.endpoints import ResolvedEndpoint, pool_members, resolve_endpoints
from breakglass.chain.pool import EndpointPool
from breakglass.detect.alerts import Alert, AlertBook, AlertPolicy
from breakglass.detect.engine import Detector
from breakglass.detect.finding import Finding
from breakglass.detect.health import Check, Condition, MonitorStatus
from breakglass.detect.selfwatch import SelfWatch
from breakglass.detect.setup import build_rules
from breakglass.detect.state import StateReader
from breakglass.detect.units import read_units_soon
from breakglass.errors import ChainError, PlanError
from breakglass.ingest import (
    BlockAdded,
    BlockFetcher,
    BlockHeader,
    BlockStream,
    CheckpointStore,
    FollowHeads,
    PollHeads,
    QuorumHeads,
    StreamEvent,
    WsHeads,
    fetch_chain_identity,
)
from breakglass.ingest.heads import stall_after
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.chain import Chain

__all__ = ["Reactor", "UnknownMonitorChain", "run_monitor"]

_log = structlog.get_logger("breakglass.detect")


class Reactor(Protocol):
    """Acts on findings before they are stored (containment lives downstream, in respond)."""

    async def start(self) -> None:
        """Prepare (pre-estimate, pre-price) before the first block."""

    def on_block(self, block: BlockAdded) -> None:
        """A new canonical block; must not block (schedule work instead)."""

    async def react(self, findings: Sequence[Finding]) -> Collection[str] | None:
        """Start what the findings call for; return once the urgent part is on its way.

        Returns the dedupe keys of the findings a response was started for: their alerts
        open a new episode and are never suppressed.
        """

    async def aclose(self) -> None:
        """Finish in-flight work and release resources."""


class UnknownMonitorChain(PlanError):
    """The plan has no chain of the name asked for."""


def _chain_config(loaded_plan: LoadedPlan, chain: str) -> Chain:
    config = loaded_plan.plan.chains.get(chain)
    if config is None:
        known = ", ".join(sorted(loaded_plan.plan.chains)) or "none"
        raise UnknownMonitorChain(f"the plan has no chain {chain!r} (chains: {known})")
    return config


def _heads(
    config: Chain,
    endpoints: list[ResolvedEndpoint],
    fetcher: BlockFetcher,
    poll_interval: float,
) -> AsyncIterable[tuple[BlockHeader, float]]:
    stall = stall_after(config.block_time)
    # Priority order; a stalled or failing one hands over to the next.
    sockets = [WsHeads(e.ws, stall_after=stall) for e in endpoints if e.ws is not None]
    heads: AsyncIterable[tuple[BlockHeader, float]] = FollowHeads(
        sockets, PollHeads(fetcher, poll_interval)
    )
    if config.quorum:
        heads = QuorumHeads(heads, fetcher, k=config.quorum)
    return _primed(heads, fetcher)


async def _primed(
    heads: AsyncIterable[tuple[BlockHeader, float]], fetcher: BlockFetcher
) -> AsyncIterator[tuple[BlockHeader, float]]:
    """The current head first: a WebSocket only speaks at the next block, and a restarted
    monitor should catch up from its checkpoint at once, not when the chain next moves."""
    try:
        yield await fetcher.header_by_number("latest"), time.perf_counter()
    except ChainError as exc:
        _log.warning("detect.no_initial_head", error=str(exc)[:200])
    async for item in heads:
        yield item


async def run_monitor(
    *,
    loaded_plan: LoadedPlan,
    chain: str,
    sessions: sessionmaker[Session],
    stop_event: asyncio.Event,
    on_commit: Callable[[], None] | None = None,
    policy: AlertPolicy | None = None,
    poll_interval: float = 0.5,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    responder: Reactor | None = None,
    on_block: Callable[[BlockAdded, int], None] | None = None,
    on_status: Callable[[MonitorStatus], None] | None = None,
    status_every: float = 60.0,
    on_clear: Callable[[Condition], None] | None = None,
    checks: Sequence[Check] = (),
    on_watching: Callable[[str], None] | None = None,
) -> None:
    """Watch ``chain`` with the plan's rules until ``stop_event`` is set.

    The monitor also watches itself (:mod:`breakglass.detect.health`): its own trouble is
    stored as an alert like a rule's (and so reaches incidents and pages through the same
    events), and the plan's heartbeat is pinged while the chain is followed.

    Args:
        sessions: a migrated database; alerts, their events and the checkpoint go there.
        on_commit: called (on the event loop, cheap) after each commit that may have
            written events: wake the outbox relay here. Build the whole monitor with
            :func:`breakglass.runtime.build_monitor` rather than calling this directly.
        policy: suppression and correlation settings (default: the plan's ``alerting:``).
        responder: gets each block's findings before they are stored, so a pause is not
            held up by the database; it must be idempotent, since a crash before the
            commit delivers the block again.
        poll_interval: seconds between head polls when no WebSocket endpoint works.
        on_block: sees each delivered block and its number of findings.
        on_status: gets a status snapshot every ``status_every`` seconds.
        on_clear: told when a health condition that alerted has cleared.
        on_watching: told the chain's name once its endpoint answered and the stream
            starts, so "monitoring" is never said of a chain that cannot be watched.
        checks: health checks beyond the monitor's own (the event pipeline's, say).

    Raises:
        PlanError: the chain is not in the plan, or its rules cannot run.
        ConfigError: every endpoint URL refers to an unset environment variable, or the
            responder cannot load a signer it needs.
        ChainMismatch: the database's checkpoint was written on another chain, or the
            endpoints serve another chain id than the plan's (``ChainIdMismatch``).
    """
    config = _chain_config(loaded_plan, chain)
    # The open breaker is reported by the health watch, not as a finding under the rule's id
    # (which would start that rule's playbooks).
    detector = Detector(chain, build_rules(loaded_plan, chain=chain), report_disabled=False)
    book = AlertBook(policy or AlertPolicy.from_plan(loaded_plan.plan))
    watch = SelfWatch(
        plan=loaded_plan.plan,
        chain=chain,
        book=book,
        sessions=sessions,
        on_commit=on_commit,
        on_clear=on_clear,
        on_block=on_block,
        clock=clock,
    )
    endpoints = resolve_endpoints(config, name=chain)
    pool = EndpointPool(pool_members(endpoints), chain=chain)
    checkpoints: CheckpointStore | None = None
    try:
        fetcher = BlockFetcher(pool, detector.fetch_spec())
        reader = StateReader(pool)
        calls = detector.state_calls()

        # Writes waiting for the stream's transaction, which runs in a worker thread (and is
        # retried while the database fails): detection and response never wait for it.
        held: list[Callable[[Session], list[Alert]]] = []

        async def sink(item: StreamEvent, session: Session | None) -> None:
            if isinstance(item, BlockAdded):
                state = await reader.read(item.hash, calls) if calls else {}
                block_time = datetime.fromtimestamp(item.header.timestamp, UTC)
                findings = detector.evaluate(item, state)
                fresh: Collection[str] = ()
                if responder is not None:
                    if findings:
                        fresh = await responder.react(findings) or ()
                    responder.on_block(item)  # after: its refreshes must not slow a reaction
                write = partial(
                    book.record, findings=findings, block_time=block_time, now=clock(), fresh=fresh
                )
                _hold(held, write, chain=chain, block=item.number)
                watch.observe(item, state, len(findings))
            else:
                _hold(
                    held, partial(_retract, book=book, removed=item), chain=chain, block=item.number
                )

        def write_held(session: Session) -> None:  # the stream's transaction, in a thread
            _write_held(session, held, watch.committed)

        checkpoints = CheckpointStore(sessions, chain)
        checkpoints.verify(
            await fetch_chain_identity(pool, chain=chain, expected_chain_id=config.chain_id)
        )
        stream = BlockStream(
            chain=chain,
            fetcher=fetcher,
            checkpoints=checkpoints,
            sinks=[sink],
            writers=[write_held],
            confirmations=config.confirmations,
        )
        if responder is not None:
            await responder.start()
            # -- mempool pre-execution (issue 18): where the plan enables it, a guard on this
            # pool front-runs pending exploits with this responder; it stops with the monitor.
            # Looked up at run time: respond is downstream of detect.
            import_module("breakglass.respond.preexec.mempool").start_guard(
                responder, chain=chain, pool=pool, stop=stop_event
            )
        watch.start(
            pool=pool,
            detector=detector,
            responder=responder,
            stop=stop_event,
            on_status=on_status,
            status_every=status_every,
            extra=checks,
        )
        read_units_soon(detector.rules, pool=pool, chain=chain, stop=stop_event)  # off the path
        _started(chain, len(detector.rules), on_watching)
        heads = _heads(config, endpoints, fetcher, poll_interval)
        await _until_stopped(stream.run(heads), stop_event)
    finally:
        if checkpoints is not None:
            checkpoints.release()
        await watch.aclose()
        if responder is not None:
            await responder.aclose()
        await pool.aclose()
        _log.info("detect.monitor_stopped", chain=chain)


_MAX_HELD = 10_000


def _started(chain: str, rules: int, on_watching: Callable[[str], None] | None) -> None:
    if on_watching is not None:  # first: a person reads this line before the log's
        on_watching(chain)
    _log.info("detect.monitor_started", chain=chain, rules=rules)


def _hold(
    held: list[Callable[[Session], list[Alert]]],
    write: Callable[[Session], list[Alert]],
    *,
    chain: str,
    block: int,
) -> None:
    held.append(write)
    if len(held) > _MAX_HELD:  # storage has been down for hours: memory comes first
        del held[0]
        _log.error("detect.held_write_dropped", chain=chain, block=block, held=len(held))


def _retract(session: Session, *, book: AlertBook, removed: StreamEvent) -> list[Alert]:
    retracted = book.retract(session, chain=removed.chain, block_hash=removed.hash)
    if retracted:
        _log.warning(
            "detect.alerts_retracted",
            chain=removed.chain,
            block=removed.number,
            alerts=len(retracted),
        )
    return []


def _write_held(
    session: Session,
    held: list[Callable[[Session], list[Alert]]],
    committed: Callable[[list[Alert]], None],
) -> None:
    """Write everything held in ``session``; forget it once the session commits (a failed
    commit keeps it for the next attempt) and say so to ``committed``. The alerts' events
    are in the same transaction: nothing is handed over here."""
    writes = list(held)
    alerts = [alert for write in writes for alert in write(session)]

    def forget(_session: Session) -> None:
        del held[: len(writes)]
        committed(alerts)

    event.listen(session, "after_commit", forget, once=True)


async def _until_stopped(work: Coroutine[Any, Any, None], stop_event: asyncio.Event) -> None:
    runner = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop_event.wait())
    try:
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # the head source ended or failed: say so
    finally:
        runner.cancel()
        stopper.cancel()
        await asyncio.gather(runner, stopper, return_exceptions=True)
