"""The live part of the demo: breakglass watches, the attacker drains, breakglass pauses.

The monitor runs in-process with the same wiring as ``breakglass monitor``
(:func:`breakglass.runtime.monitor.build_monitor`): the responder acts on findings directly,
the incident desk and the notifier consume the alerts' and incidents' events.
Blocks are mined explicitly (automine off), one per attack step, so every run gives the same
blocks: after each block the demo waits until the monitor has processed it (and, after a
successful drain, until the pause is broadcast) before the attacker sends its next drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from breakglass.demo.attack import Attacker
from breakglass.devchain import Anvil
from breakglass.events import AlertRaised, Event, IncidentOpened
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.journal import PhaseEvent
from breakglass.runtime.monitor import build_monitor
from breakglass.scenario.live import anvil_rpc, wait_processed, wait_receipt
from breakglass.scenario.vault import calldata

__all__ = ["LiveOutcome", "run_live"]

CHAIN = "local"
_READY_TIMEOUT = 20.0
_PAUSE_TIMEOUT = 15.0
_SETTLE_TIMEOUT = 15.0

Say = Callable[[str], None]


@dataclass(slots=True)
class LiveOutcome:
    """What happened on chain while breakglass watched."""

    attack_txs: list[tuple[str, int, bool]] = field(default_factory=list)
    """(hash, block, succeeded) of every drain the attacker sent, in order."""
    unsent: int = 0
    """Drains the attacker never sent because it saw the pool paused."""
    alert_block: int | None = None
    alert_rules: list[str] = field(default_factory=list)
    pause_tx: str | None = None
    pause_block: int | None = None
    pause_phases: list[str] = field(default_factory=list)
    incident_id: int | None = None


class _Watch:
    """Collects alerts, incidents and step events from the monitor."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.outcome = LiveOutcome()
        self.broadcast = asyncio.Event()
        self.settled = asyncio.Event()
        self._first: AlertRaised | None = None

    async def on_alert(self, event: Event) -> None:
        if not isinstance(event, AlertRaised):
            return
        if self.outcome.alert_block is None:
            self.outcome.alert_block = event.block_number
            self._first = event
        self.outcome.alert_rules.append(event.rule)

    async def on_incident(self, event: Event) -> None:
        if not isinstance(event, IncidentOpened) or self.outcome.incident_id is not None:
            return
        self.outcome.incident_id = event.incident_id
        first = self._first
        where = f"alert in block {first.block_number}: {first.title}; " if first else ""
        self.say(f"  {where}incident #{event.incident_id}")

    def on_event(self, event: PhaseEvent) -> None:
        if event.action != "pause":
            return
        self.outcome.pause_phases.append(event.phase)
        if event.phase == "broadcast" and self.outcome.pause_tx is None:
            self.outcome.pause_tx = str(event.detail.get("tx_hash", "")) or None
            self.say(f"  guardian pause broadcast: {self.outcome.pause_tx}")
            self.broadcast.set()
        if event.phase in ("done", "failed", "fallback", "skipped"):
            self.settled.set()


async def _paused(anvil: Anvil, pool: str) -> bool:
    result = await anvil_rpc(
        anvil, "eth_call", {"to": pool, "data": calldata("paused()")}, "latest"
    )
    return int(result, 16) != 0


async def run_live(
    anvil: Anvil,
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    attacker: Attacker,
    say: Say,
) -> LiveOutcome:
    """Start the monitor, run the attack block by block, and return what happened."""
    stop = asyncio.Event()
    watch = _Watch(say)
    app = build_monitor(loaded, chain=CHAIN, sessions=sessions, on_phase=watch.on_event)
    app.bus.subscribe("demo.alerts", [AlertRaised], watch.on_alert)
    app.bus.subscribe("demo.incidents", [IncidentOpened], watch.on_incident)
    monitor = asyncio.create_task(app.run(stop, poll_interval=0.2))
    try:
        height = int(await anvil_rpc(anvil, "eth_blockNumber"), 16)
        await wait_processed(sessions, CHAIN, height, monitor, timeout=_READY_TIMEOUT)
        say(f"  breakglass is watching from block {height}")
        await anvil_rpc(anvil, "evm_setAutomine", False)
        await _attack(anvil, attacker, sessions, monitor, watch)
        await anvil_rpc(anvil, "evm_setAutomine", True)
    finally:
        stop.set()
        await asyncio.gather(monitor, return_exceptions=True)
    # Once more, now that the desk's own loop has stopped (two syncs at once would both
    # link the playbook run to the incident): the run's steps reach the timeline, and
    # what that queued is delivered.
    assert app.desk is not None and app.notifier is not None
    await asyncio.to_thread(app.desk.sync)
    await app.relay.drain()
    await app.notifier.deliver_due()
    return watch.outcome


async def _attack(
    anvil: Anvil,
    attacker: Attacker,
    sessions: sessionmaker[Session],
    monitor: asyncio.Task[None],
    watch: _Watch,
) -> None:
    outcome, pool = watch.outcome, attacker.protocol.pool
    for index, (raw, tx_hash) in enumerate(attacker.signed):
        if await _paused(anvil, pool):
            outcome.unsent = len(attacker.signed) - index
            watch.say(f"  the attacker sees the pool paused; {outcome.unsent} drains never sent")
            break
        await anvil_rpc(anvil, "eth_sendRawTransaction", raw)
        await anvil_rpc(anvil, "evm_mine")
        receipt = await wait_receipt(anvil, tx_hash, timeout=10.0)
        block, ok = int(receipt["blockNumber"], 16), receipt["status"] == "0x1"
        outcome.attack_txs.append((tx_hash, block, ok))
        watch.say(f"  drain {index + 1} in block {block}: {'succeeded' if ok else 'REVERTED'}")
        await wait_processed(sessions, CHAIN, block, monitor, timeout=_READY_TIMEOUT)
        if ok and not watch.broadcast.is_set():
            try:
                await asyncio.wait_for(watch.broadcast.wait(), _PAUSE_TIMEOUT)
            except TimeoutError:
                watch.say(f"  no pause broadcast {_PAUSE_TIMEOUT:g} s after block {block}")
    if outcome.pause_tx is not None:
        pending = await anvil_rpc(anvil, "eth_getTransactionReceipt", outcome.pause_tx)
        if pending is None:  # the attacker stopped first: mine the pause on its own
            await anvil_rpc(anvil, "evm_mine")
        receipt = await wait_receipt(anvil, outcome.pause_tx, timeout=10.0)
        outcome.pause_block = int(receipt["blockNumber"], 16)
        try:
            await asyncio.wait_for(watch.settled.wait(), _SETTLE_TIMEOUT)
        except TimeoutError:
            watch.say(f"  the pause step did not finish within {_SETTLE_TIMEOUT:g} s")
