"""Every chain of a plan in one process: one ingest task per chain, one pipeline for all.

Each chain runs :func:`~breakglass.detect.monitor.run_monitor` in its own task with its own
responder, endpoint pool and checkpoint, so a chain whose endpoints are all dead only retries
itself (after ``retry_after`` seconds, with a fresh responder) while the others go on. What
follows detection is shared: one bus, one outbox relay, one incident desk and one notifier.

A chain's failure that retrying cannot fix (its rules cannot run, its signers cannot be
loaded, the database's checkpoint is of another chain) stops the whole process with its
message: that is bad input, not an outage.

In scale-out mode (:mod:`breakglass.runtime.scaleout`) the same tasks first wait for the
chain's lease and watch only while they hold it; the desk's and notifier's loops run on the
replica that holds the ``role.notify`` lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session, sessionmaker

from breakglass.cluster.connect import ClusterError
from breakglass.detect.health import Condition, MonitorStatus
from breakglass.detect.health_pipeline import EventPipeline
from breakglass.detect.monitor import Reactor, run_monitor
from breakglass.errors import BreakglassError, ChainError, StoreError
from breakglass.events import Backlog, Bus, OutboxRelay, backlog
from breakglass.incidents.desk import IncidentDesk
from breakglass.ingest import BlockAdded
from breakglass.ingest.checkpoint import ChainMismatch
from breakglass.notify import Notifier
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.journal import OnStepEvent
from breakglass.respond.responder import Responder
from breakglass.respond.signers.local import Prompt
from breakglass.runtime.monitor import (
    build_pipeline,
    build_responder,
    crash_page,
    final_drain,
    notify_lead,
    page_lead,
)
from breakglass.runtime.supervise import supervised

__all__ = ["Fleet", "Leader", "build_fleet"]

_log = structlog.get_logger("breakglass.runtime")


class Leader(Protocol):
    """Who may watch a chain or run a singleton loop (scale-out mode; see ``scaleout``)."""

    async def lead(self, key: str, stop: asyncio.Event) -> asyncio.Event | None:
        """Wait until this process holds ``key``; return an event set when it stops holding
        it (or ``None`` if ``stop`` was set first)."""

    async def resign(self, key: str) -> None:
        """Give ``key`` up now (the monitor of it stopped)."""

    def arm(self, chain: str, reactor: Reactor | None) -> None:
        """Fence ``reactor``'s sends with the leases of its signers."""

    async def aclose(self) -> None:
        """Give every lease up and close the connection."""


@dataclass
class Fleet:
    """The monitors of ``chains`` and what consumes their events; :meth:`run` runs them."""

    loaded: LoadedPlan
    chains: list[str]
    sessions: sessionmaker[Session]
    bus: Bus
    relay: OutboxRelay
    make_responder: Callable[[str], Reactor | None]
    desk: IncidentDesk | None = None
    notifier: Notifier | None = None
    leader: Leader | None = None
    retry_after: float = 5.0
    """Seconds before a chain whose watch failed (dead endpoints) is tried again."""
    stall_after: float = 60.0
    failures: dict[str, str] = field(default_factory=dict)
    """Per chain, why its last watch stopped (for status and tests)."""

    def backlog(self) -> Backlog:
        with self.sessions() as session:
            return backlog(session, max_attempts=self.relay.max_attempts)

    async def run(
        self,
        stop: asyncio.Event,
        *,
        poll_interval: float = 0.5,
        on_block: Callable[[BlockAdded, int], None] | None = None,
        on_status: Callable[[MonitorStatus], None] | None = None,
        status_every: float = 60.0,
        on_clear: Callable[[Condition], None] | None = None,
        on_watching: Callable[[str], None] | None = None,
    ) -> None:
        """Watch every chain until ``stop`` is set.

        Raises:
            BreakglassError: a chain cannot be watched at all (see the module's docstring).
        """
        options: dict[str, Any] = {
            "poll_interval": poll_interval,
            "on_block": on_block,
            "on_status": on_status,
            "status_every": status_every,
            "on_clear": on_clear,
            "on_watching": on_watching,
        }
        start = getattr(self.bus, "start", None)
        if start is not None:
            await start(stop)
        background = [asyncio.create_task(self._relay(stop))]
        loops: list[Callable[[asyncio.Event], Awaitable[None]]] = []
        if self.notifier is not None:
            loops.append(self.notifier.run)
        if self.desk is not None:
            loops.append(self.desk.run)
        if loops:
            background.append(asyncio.create_task(self._singletons(loops, stop)))
        watches = [asyncio.create_task(self._watch(c, stop, options)) for c in self.chains]
        try:
            await _first_failure(watches)
        finally:
            stop.set()
            await asyncio.gather(*watches, *background, return_exceptions=True)
            await final_drain(self.relay)
            aclose = getattr(self.bus, "aclose", None)
            if aclose is not None:
                await aclose()
            if self.leader is not None:
                await self.leader.aclose()

    async def _relay(self, stop: asyncio.Event) -> None:
        """The relay, started again when the bus itself fails (NATS restarting): the event
        waits in the outbox, and its attempts are not spent on an outage of the bus."""
        while True:
            try:
                await self.relay.run(stop)
            except ClusterError as exc:
                _log.warning("runtime.bus_down", error=str(exc)[:300])
                if stop.is_set():
                    return  # what is left stays in the outbox for the next replica
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
            else:
                return

    async def _singletons(
        self, loops: Sequence[Callable[[asyncio.Event], Awaitable[None]]], stop: asyncio.Event
    ) -> None:
        """Run the loops here (embedded), or while this replica holds ``role.notify``."""
        while not stop.is_set():
            held = stop if self.leader is None else await self.leader.lead("role.notify", stop)
            if held is None:
                return
            until = asyncio.Event()
            relay = asyncio.create_task(_either(stop, held, until))
            await asyncio.gather(
                *(
                    supervised(_loop_name(loop), loop, until, on_crash=self._crashed)
                    for loop in loops
                ),
                return_exceptions=True,
            )
            relay.cancel()
            if self.leader is not None:
                await self.leader.resign("role.notify")

    async def _watch(self, chain: str, stop: asyncio.Event, options: dict[str, Any]) -> None:
        while not stop.is_set():
            lost = stop
            if self.leader is not None:
                held = await self.leader.lead(f"chain.{chain}", stop)
                if held is None:
                    return
                lost = held
            until = asyncio.Event()
            relay = asyncio.create_task(_either(stop, lost, until))
            try:
                await self._watch_held(chain, until, options)
            except ChainMismatch:
                raise
            except ChainError as exc:
                self._failed(chain, exc)
            finally:
                relay.cancel()
                if self.leader is not None:
                    await self.leader.resign(f"chain.{chain}")
            if until.is_set() and not stop.is_set() and self.leader is not None:
                continue  # lost the lease: wait for it again at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.retry_after)

    async def _watch_held(self, chain: str, until: asyncio.Event, options: dict[str, Any]) -> None:
        """Watch until ``until``; in scale-out mode, a database lock still held by the
        previous leader (its session not yet ended) is tried again shortly, lease in hand."""
        while not until.is_set():
            try:
                await self._watch_once(chain, until, options)
            except StoreError as exc:
                if self.leader is None:
                    raise
                self._failed(chain, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), timeout=0.25)
            else:
                return

    async def _watch_once(self, chain: str, until: asyncio.Event, options: dict[str, Any]) -> None:
        responder = self.make_responder(chain)
        if self.leader is not None:
            self.leader.arm(chain, responder)
        pipeline = EventPipeline(
            self.backlog, chain, stall_after=self.stall_after, escalate=self._escalate
        )
        await run_monitor(
            loaded_plan=self.loaded,
            chain=chain,
            sessions=self.sessions,
            stop_event=until,
            on_commit=self.relay.wake,
            responder=responder,
            checks=[pipeline],
            **options,
        )
        self.failures.pop(chain, None)

    def _failed(self, chain: str, exc: BreakglassError) -> None:
        first = chain not in self.failures
        self.failures[chain] = str(exc)[:300]
        _log.error(
            "runtime.chain_failed", chain=chain, error=str(exc)[:300], retry=self.retry_after
        )
        if first:  # never silent: the chain's own health watch is not running to say it
            notify_lead(
                self.loaded.plan,
                self.notifier,
                f"breakglass cannot watch chain {chain} (retrying every "
                f"{self.retry_after:g} s): {str(exc)[:200]}",
            )

    def _escalate(self, condition: Condition) -> None:
        page_lead(self.loaded.plan, self.notifier, condition)

    def _crashed(self, loop: str, exc: BaseException) -> None:
        crash_page(self.loaded.plan, self.notifier, loop, exc)


def _loop_name(loop: Callable[[asyncio.Event], Awaitable[None]]) -> str:
    owner = getattr(loop, "__self__", None)
    return type(owner).__name__ if owner is not None else getattr(loop, "__name__", "loop")


async def _either(a: asyncio.Event, b: asyncio.Event, then: asyncio.Event) -> None:
    """Set ``then`` as soon as ``a`` or ``b`` is set."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        then.set()
    finally:
        for wait in waits:
            wait.cancel()


async def _first_failure(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; raise the first failure at once."""
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


def build_fleet(
    loaded: LoadedPlan,
    *,
    chains: Sequence[str],
    sessions: sessionmaker[Session],
    respond: bool = True,
    incidents: bool = True,
    environ: Mapping[str, str] | None = None,
    prompt: Prompt | None = None,
    on_phase: OnStepEvent | None = None,
    allow_unarmed: bool = False,
    bus: Bus | None = None,
    leader: Leader | None = None,
    relay_idle: float = 0.5,
) -> Fleet:
    """Wire the monitors of ``chains`` (see :func:`~breakglass.runtime.build_monitor` for
    the arguments), on ``bus`` (default: in-process) and, in scale-out mode, ``leader``.

    Raises:
        ConfigError: a signer of an automatic step cannot be loaded (and not
            ``allow_unarmed``), checked here for every chain before anything watches.
    """
    remembered = _remembered(prompt)

    def make(chain: str) -> Responder | None:
        if not respond:
            return None
        return build_responder(
            loaded,
            chain=chain,
            sessions=sessions,
            environ=environ,
            prompt=remembered,
            on_phase=on_phase,
            allow_unarmed=allow_unarmed,
        )

    first = {chain: make(chain) for chain in chains}  # refuses before anything watches

    def responder_for(chain: str) -> Reactor | None:
        return first.pop(chain) if chain in first else make(chain)

    pipe = build_pipeline(
        loaded.plan,
        sessions,
        bus=bus,
        incidents=incidents,
        environ=environ,
        relay_idle=relay_idle,
    )
    return Fleet(
        loaded=loaded,
        chains=list(chains),
        sessions=sessions,
        bus=pipe.bus,
        relay=pipe.relay,
        make_responder=responder_for,
        desk=pipe.desk,
        notifier=pipe.notifier,
        leader=leader,
    )


def _remembered(prompt: Prompt | None) -> Prompt | None:
    """``prompt``, asking each question once: a retried chain's responder loads its keys
    again, and each chain's responder loads a shared signer's."""
    if prompt is None:
        return None
    answers: dict[str, str] = {}

    def ask(question: str) -> str:
        if question not in answers:
            answers[question] = prompt(question)
        return answers[question]

    return ask
