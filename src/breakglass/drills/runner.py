"""Run a scripted drill: deploy the scenario, watch it with the real monitor and playbooks,
attack, and measure how fast breakglass detected and contained it and how much it saved.

The monitor is the one ``breakglass monitor`` runs
(:func:`breakglass.runtime.monitor.build_monitor`), its responder acting through an
environment that holds the guardian key, without incidents or notifications, on the drill
plan (the scenario's fragment merged with the user's people and roles). Alerts and step
runs go to a scratch database in ``workdir``; only the drill's own row goes to the team's.
The attacker sends one step per block and waits for the monitor to finish each block before
its next move, so every run gives the same blocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.drills.library import CHAIN, GUARDIAN_ENV, Deployment, DrillScenario, build_plan
from breakglass.events import AlertRaised, Event
from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.respond.journal import PhaseEvent
from breakglass.runtime.monitor import build_monitor
from breakglass.scenario.live import anvil_rpc, wait_processed, wait_receipt

__all__ = ["AttackRecord", "DrillOutcome", "run_drill"]

Say = Callable[[str], None]
_READY_TIMEOUT = 20.0
_BROADCAST_WAIT = 5.0
_RECEIPT_TIMEOUT = 15.0
_SETTLE_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class AttackRecord:
    """One attacker transaction: its step, hash, block and whether it succeeded."""

    step: str
    tx_hash: str
    block: int
    ok: bool
    exploit: bool = True


@dataclass(slots=True)
class DrillOutcome:
    """What happened during a scripted drill, and the plan it ran with."""

    scenario: DrillScenario
    loaded: LoadedPlan
    deployment: Deployment
    attack: list[AttackRecord] = field(default_factory=list)
    first_exploit_block: int | None = None
    alert_block: int | None = None
    alert_rules: list[str] = field(default_factory=list)
    detect_seconds: float | None = None
    pause_tx: str | None = None
    pause_block: int | None = None
    contain_seconds: float | None = None
    playbook_status: list[str] = field(default_factory=list)
    contained: bool = False
    value_before: int | None = None
    value_after: int | None = None
    fix: dict[str, Any] | None = None
    """The report of the fix verified against this drill's exploit (``--with-fix``)."""

    @property
    def detect_blocks(self) -> int | None:
        if self.alert_block is None or self.first_exploit_block is None:
            return None
        return self.alert_block - self.first_exploit_block

    @property
    def contain_blocks(self) -> int | None:
        if self.pause_block is None or self.first_exploit_block is None:
            return None
        return self.pause_block - self.first_exploit_block

    @property
    def saved_share(self) -> float | None:
        """Share of the value at risk still in place after the attack (drains only)."""
        if not self.value_before or self.value_after is None:
            return None
        return self.value_after / self.value_before

    @property
    def last_attack_block(self) -> int | None:
        return max((r.block for r in self.attack), default=None)

    def measurements(self) -> dict[str, Any]:
        """The figures stored with the drill and shown in the report."""
        return {
            "first_exploit_block": self.first_exploit_block,
            "alert_block": self.alert_block,
            "alert_rules": sorted(set(self.alert_rules)),
            "detect_blocks": self.detect_blocks,
            "detect_seconds": self.detect_seconds,
            "pause_tx": self.pause_tx,
            "pause_block": self.pause_block,
            "contain_blocks": self.contain_blocks,
            "contain_seconds": self.contain_seconds,
            "contained": self.contained,
            "playbook_status": self.playbook_status,
            "value_before": str(self.value_before) if self.value_before is not None else None,
            "value_after": str(self.value_after) if self.value_after is not None else None,
            "saved_share": self.saved_share,
            "attack_txs": len(self.attack),
            "attack_txs_succeeded": sum(1 for r in self.attack if r.ok),
            "last_attack_block": self.last_attack_block,
            **(
                {
                    "fix_name": self.fix["fix"]["name"],
                    "fix_verdict": self.fix["verdict"],
                    "fix_reasons": self.fix["reasons"],
                }
                if self.fix is not None
                else {}
            ),
        }


class _Watch:
    """Collects alerts and pause step events from the monitor's callbacks."""

    def __init__(self, outcome: DrillOutcome, say: Say) -> None:
        self.outcome = outcome
        self.say = say
        self.exploit_seen: float | None = None
        """When the first exploit step was sent (detection is timed from there)."""
        self.broadcast = asyncio.Event()
        self.settled = asyncio.Event()

    async def on_alert(self, found: Event) -> None:
        if not isinstance(found, AlertRaised):
            return
        if self.outcome.alert_block is None:
            self.outcome.alert_block = found.block_number
            if self.exploit_seen is not None:
                self.outcome.detect_seconds = time.monotonic() - self.exploit_seen
            self.say(f"  alert in block {found.block_number}: {found.rule}: {found.title}")
        self.outcome.alert_rules.append(found.rule)

    def on_event(self, event: PhaseEvent) -> None:
        if event.phase == "broadcast" and self.outcome.pause_tx is None:
            self.outcome.pause_tx = str(event.detail.get("tx_hash", "")) or None
            self.say(f"  {event.action} broadcast: {self.outcome.pause_tx}")
            self.broadcast.set()
        if event.phase in ("done", "failed", "fallback", "skipped"):
            self.outcome.playbook_status.append(f"{event.action}:{event.phase}")
            self.settled.set()


async def _block_time(anvil: Anvil, number: int) -> int:
    block = await anvil_rpc(anvil, "eth_getBlockByNumber", hex(number), False)
    return int(block["timestamp"], 16)


def write_plan(
    scenario: DrillScenario,
    anvil: Anvil,
    deployment: Deployment,
    workdir: Path,
    user_plan: Mapping[str, Any] | None = None,
) -> LoadedPlan:
    """Write the drill plan to ``workdir/drill-plan.yaml`` and load it."""
    path = workdir / "drill-plan.yaml"
    document = build_plan(scenario, anvil, deployment, user_plan)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_plan(path)


async def run_drill(
    scenario: DrillScenario,
    anvil: Anvil,
    workdir: Path,
    *,
    user_plan: Mapping[str, Any] | None = None,
    mine: bool = False,
    fix: Path | None = None,
    say: Say = lambda _line: None,
) -> DrillOutcome:
    """Deploy ``scenario`` on ``anvil``, defend it with breakglass, attack, and measure.

    Args:
        workdir: where the drill plan and the scratch monitor database are written.
        user_plan: the user's raw plan document, whose people and roles are merged in.
        mine: mine each attacker step with ``evm_mine`` instead of waiting for anvil's
            block time (for chains started without ``block_time``).
        fix: a FIX.yaml verified against the drill's exploit once it is contained, on a fork
            of the drill's chain (docs/eradication.md): the team rehearses the whole path.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"deploying {scenario.name} on {anvil.http_url}")
    deployment = await asyncio.to_thread(scenario.deploy, anvil)
    loaded = write_plan(scenario, anvil, deployment, workdir, user_plan)
    outcome = DrillOutcome(scenario=scenario, loaded=loaded, deployment=deployment)
    url = f"sqlite:///{(workdir / 'monitor.db').as_posix()}"
    await asyncio.to_thread(store.upgrade, url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    try:
        await _watch_attack(scenario, anvil, outcome, sessions, mine=mine, say=say)
    finally:
        engine.dispose()
    if fix is not None:
        say(f"verifying the fix {fix} against the drill's exploit on a fork")
        outcome.fix = await asyncio.to_thread(_verify_fix, outcome, anvil, fix)
        say(f"  fix {outcome.fix['verdict']}")
    return outcome


def _verify_fix(outcome: DrillOutcome, anvil: Anvil, path: Path) -> dict[str, Any]:
    from breakglass.recovery.fix import Incident, verify_fix  # noqa: PLC0415
    from breakglass.recovery.fixspec import load_fix  # noqa: PLC0415

    spec, digest = load_fix(path)
    exploit = tuple(r.tx_hash for r in outcome.attack if r.ok and r.exploit)
    plan = outcome.loaded.plan
    report = verify_fix(
        url=anvil.http_url,
        chain=CHAIN,
        incident=Incident(0, exploit, frozenset({outcome.deployment.attacker.lower()})),
        spec=spec,
        digest=digest,
        spec_dir=path.parent,
        watched={n: c.address for n, c in plan.contracts.items() if c.chain == CHAIN},
        loaded=outcome.loaded,
    )
    return report.to_json()


async def _watch_attack(
    scenario: DrillScenario,
    anvil: Anvil,
    outcome: DrillOutcome,
    sessions: sessionmaker[Session],
    *,
    mine: bool,
    say: Say,
) -> None:
    loaded, deployment = outcome.loaded, outcome.deployment
    watch = _Watch(outcome, say)
    app = build_monitor(
        loaded,
        chain=CHAIN,
        sessions=sessions,
        incidents=False,
        environ={GUARDIAN_ENV: deployment.guardian_key},
        on_phase=watch.on_event,
        relay_idle=0.2,
    )
    app.bus.subscribe("drill.alerts", [AlertRaised], watch.on_alert)
    stop = asyncio.Event()
    monitor = asyncio.create_task(app.run(stop, poll_interval=0.2))
    try:
        height = int(await anvil_rpc(anvil, "eth_blockNumber"), 16)
        await wait_processed(sessions, CHAIN, height, monitor, timeout=_READY_TIMEOUT)
        say(f"breakglass is watching from block {height}; attack starts")
        outcome.value_before = await asyncio.to_thread(scenario.value_at_risk, anvil, deployment)
        await _attack(scenario, anvil, outcome, sessions, monitor, watch, mine=mine)
        if outcome.pause_tx is not None:
            receipt = await wait_receipt(
                anvil, outcome.pause_tx, timeout=_RECEIPT_TIMEOUT, mine=True
            )
            outcome.pause_block = int(receipt["blockNumber"], 16)
            if outcome.first_exploit_block is not None:
                start = await _block_time(anvil, outcome.first_exploit_block)
                outcome.contain_seconds = await _block_time(anvil, outcome.pause_block) - start
            await asyncio.wait_for(watch.settled.wait(), _SETTLE_TIMEOUT)
        outcome.value_after = await asyncio.to_thread(scenario.value_at_risk, anvil, deployment)
        outcome.contained = await asyncio.to_thread(scenario.contained, anvil, deployment)
    finally:
        stop.set()
        await asyncio.gather(monitor, return_exceptions=True)


async def _attack(
    scenario: DrillScenario,
    anvil: Anvil,
    outcome: DrillOutcome,
    sessions: sessionmaker[Session],
    monitor: asyncio.Task[None],
    watch: _Watch,
    *,
    mine: bool,
) -> None:
    for step in scenario.attack(anvil, outcome.deployment):
        if step.exploit and watch.exploit_seen is None:
            watch.exploit_seen = time.monotonic()
        hashes = await asyncio.to_thread(step.send, anvil)
        last = int(await anvil_rpc(anvil, "eth_blockNumber"), 16)
        for tx_hash in hashes:
            receipt = await wait_receipt(anvil, tx_hash, timeout=_RECEIPT_TIMEOUT, mine=mine)
            block, ok = int(receipt["blockNumber"], 16), receipt["status"] == "0x1"
            outcome.attack.append(AttackRecord(step.label, tx_hash, block, ok, step.exploit))
            last = max(last, block)
        if step.exploit and outcome.first_exploit_block is None:
            outcome.first_exploit_block = last
        status = ", ".join("ok" if r.ok else "REVERTED" for r in outcome.attack[-len(hashes) :])
        watch.say(f"  block {last}: {step.label}" + (f" ({status})" if hashes else ""))
        await wait_processed(sessions, CHAIN, last, monitor, timeout=_READY_TIMEOUT)
        if outcome.alert_block is not None and not watch.broadcast.is_set():
            try:
                await asyncio.wait_for(watch.broadcast.wait(), _BROADCAST_WAIT)
            except TimeoutError:
                watch.say("  the alert fired but no pause was broadcast")
