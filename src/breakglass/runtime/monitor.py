"""The monitor of one chain, wired once for ``breakglass monitor``, the demo and the drills.

:func:`build_monitor` puts together what watches a chain and acts on it:

- detect → respond directly: the :class:`~breakglass.respond.responder.Responder` is the
  monitor's ``Reactor`` and gets each block's findings before anything is stored, so the
  pause never waits for the database or the bus;
- detect → incidents → notify through events: alerts, incidents and notifications are
  written to the outbox in the transactions of their causes, and the
  :class:`~breakglass.events.OutboxRelay` (woken after each block's commit) delivers them on
  an :class:`~breakglass.events.InProcessBus` to the
  :class:`~breakglass.incidents.desk.IncidentDesk`, incidents' record of respond's steps
  (:mod:`breakglass.incidents.response_log`) and the
  :class:`~breakglass.notify.consumers.NotificationConsumer`, each consuming exactly once;
- the pipeline watched like the chain: dead letters or a growing backlog are a health
  condition (an alert through the normal path) and page the incident lead directly too,
  since the normal path is the one that may be stuck.

Interfaces subscribe to :attr:`MonitorApp.bus` for what they show (the CLI prints alerts
and incidents, the demo and the drills collect them) and call :meth:`MonitorApp.run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session, sessionmaker

from breakglass.detect.health import Condition, MonitorStatus
from breakglass.detect.health_pipeline import EventPipeline
from breakglass.detect.monitor import Reactor, run_monitor
from breakglass.events import Backlog, Bus, InProcessBus, OutboxRelay, backlog
from breakglass.incidents import response_log
from breakglass.incidents.desk import IncidentDesk
from breakglass.ingest import BlockAdded
from breakglass.notify import Notifier
from breakglass.notify.consumers import NotificationConsumer
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models import Plan
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import OnStepEvent
from breakglass.respond.responder import Responder
from breakglass.respond.signers.local import Prompt
from breakglass.runtime.supervise import supervised

__all__ = [
    "MonitorApp",
    "Pipeline",
    "build_monitor",
    "build_pipeline",
    "build_responder",
    "crash_page",
    "final_drain",
    "notify_lead",
    "page_lead",
]

_log = structlog.get_logger("breakglass.runtime")

_LEAD = "incident_lead"


@dataclass(frozen=True)
class Pipeline:
    """detect → incidents → notify: the bus, its relay and the consumers on it."""

    bus: Bus
    relay: OutboxRelay
    desk: IncidentDesk | None
    notifier: Notifier | None


def build_pipeline(
    plan: Plan,
    sessions: sessionmaker[Session],
    *,
    bus: Bus | None = None,
    incidents: bool = True,
    environ: Mapping[str, str] | None = None,
    relay_idle: float = 0.5,
) -> Pipeline:
    """The bus and relay, with incidents (the desk on alerts, the timeline on respond's
    steps) and the notifier's consumer on it unless ``incidents`` is false (then events
    reach only what the caller subscribes). ``bus`` defaults to an in-process one."""
    bus = bus or InProcessBus()
    desk: IncidentDesk | None = None
    notifier: Notifier | None = None
    if incidents:
        notifier = Notifier(plan, sessions, environ=environ)
        desk = IncidentDesk(plan, sessions)
        desk.subscribe(bus)
        response_log.subscribe(bus, sessions)
        NotificationConsumer(plan, sessions, notifier).subscribe(bus)
    return Pipeline(bus, OutboxRelay(sessions, bus, idle=relay_idle), desk, notifier)


@dataclass
class MonitorApp:
    """One chain's monitor and what consumes its events; :meth:`run` runs them all."""

    loaded: LoadedPlan
    chain: str
    sessions: sessionmaker[Session]
    bus: Bus
    relay: OutboxRelay
    responder: Reactor | None = None
    desk: IncidentDesk | None = None
    notifier: Notifier | None = None
    stall_after: float = 60.0
    """Seconds the oldest undelivered event may wait before it is a health condition."""

    def backlog(self) -> Backlog:
        """How far behind the relay is (for the health check)."""
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
        """Watch until ``stop`` is set; then deliver what the outbox holds and stop.

        Raises what :func:`~breakglass.detect.monitor.run_monitor` raises.
        """
        loops: dict[str, Callable[[asyncio.Event], Awaitable[None]]] = {"relay": self.relay.run}
        if self.notifier is not None:
            loops["notifier"] = self.notifier.run
        if self.desk is not None:
            loops["desk"] = self.desk.run
        background = [
            asyncio.create_task(supervised(name, run, stop, on_crash=self._crashed))
            for name, run in loops.items()
        ]
        pipeline = EventPipeline(
            self.backlog, self.chain, stall_after=self.stall_after, escalate=self._escalate
        )
        try:
            await run_monitor(
                loaded_plan=self.loaded,
                chain=self.chain,
                sessions=self.sessions,
                stop_event=stop,
                on_commit=self.relay.wake,
                poll_interval=poll_interval,
                responder=self.responder,
                on_block=on_block,
                on_status=on_status,
                status_every=status_every,
                on_clear=on_clear,
                checks=[pipeline],
                on_watching=on_watching,
            )
        finally:
            stop.set()
            await asyncio.gather(*background, return_exceptions=True)
            await final_drain(self.relay)

    def _escalate(self, condition: Condition) -> None:
        page_lead(self.loaded.plan, self.notifier, condition)

    def _crashed(self, loop: str, exc: BaseException) -> None:
        crash_page(self.loaded.plan, self.notifier, loop, exc)


async def final_drain(relay: OutboxRelay) -> None:
    """Deliver what the last commits wrote after the relay's own loop stopped; what cannot
    be delivered now stays in the outbox for the next start (logged, never raised)."""
    try:
        await relay.drain()
    except Exception as exc:  # stopping: the outbox keeps the events for the next start
        _log.warning("runtime.final_drain_failed", error=repr(exc)[:300])


def crash_page(plan: Plan, notifier: Notifier | None, loop: str, exc: BaseException) -> None:
    """Page the incident lead that a background loop crashed (it is being restarted)."""
    title = f"breakglass: the {loop} loop crashed and is restarting ({type(exc).__name__})"
    notify_lead(plan, notifier, title)


def notify_lead(plan: Plan, notifier: Notifier | None, title: str) -> None:
    """Page the incident lead directly about breakglass's own trouble; a failure to page is
    logged, never raised (the database may be what is failing)."""
    lead = plan.roles.get(_LEAD)
    if notifier is None or lead is None or not lead.members:
        _log.error("runtime.nobody_to_page", title=title)
        return
    try:
        notifier.page(_LEAD, title)
    except Exception as exc:  # the database may be what is failing: say so, do not raise
        _log.error("runtime.page_failed", title=title, error=str(exc)[:300])
        return
    notifier.wake()


def page_lead(plan: Plan, notifier: Notifier | None, condition: Condition) -> None:
    """Page the incident lead about a stuck event pipeline without going through it (the
    path that normally pages is the one that may be stuck)."""
    _log.error("runtime.events_stuck", condition=condition.key, title=condition.title)
    notify_lead(plan, notifier, f"breakglass: {condition.title}")


def build_responder(
    loaded: LoadedPlan,
    *,
    chain: str,
    sessions: sessionmaker[Session],
    environ: Mapping[str, str] | None = None,
    prompt: Prompt | None = None,
    on_phase: OnStepEvent | None = None,
    allow_unarmed: bool = False,
) -> Responder:
    """The responder of ``chain`` acting through a :class:`LiveEnv`, its signers checked.

    Raises:
        ConfigError: a signer of an automatic step cannot be loaded (and not
            ``allow_unarmed``): a monitor refuses before it says it watches.
    """
    env = LiveEnv(loaded, sessions, environ=environ, prompt=prompt)
    responder = Responder(
        loaded,
        chain=chain,
        sessions=sessions,
        env=env,
        on_event=on_phase,
        allow_unarmed=allow_unarmed,
    )
    responder.preflight()
    return responder


def build_monitor(
    loaded: LoadedPlan,
    *,
    chain: str,
    sessions: sessionmaker[Session],
    respond: bool = True,
    incidents: bool = True,
    environ: Mapping[str, str] | None = None,
    prompt: Prompt | None = None,
    on_phase: OnStepEvent | None = None,
    allow_unarmed: bool = False,
    relay_idle: float = 0.5,
) -> MonitorApp:
    """Wire the monitor of ``chain``: responder, bus, relay, incident desk and notifier.

    Args:
        respond: run the plan's playbooks (a :class:`Responder` with a :class:`LiveEnv`).
        incidents: open incidents and deliver notifications (the desk and the notifier
            consume the events); without, alerts are stored and published only to what the
            caller subscribes.
        environ: where signers' keys and URLs' ``${ENV}`` references are read (default: the
            process environment).
        prompt: asks for a keystore password (``None``: no prompt).
        on_phase: told of each playbook step's phase, directly (the pause path).
        allow_unarmed: start even if an automatic step's signer cannot be loaded.

    Raises:
        ConfigError: a signer of an automatic step cannot be loaded (and not
            ``allow_unarmed``), checked here so a monitor refuses before it says it watches.
    """
    responder: Responder | None = None
    if respond:
        responder = build_responder(
            loaded,
            chain=chain,
            sessions=sessions,
            environ=environ,
            prompt=prompt,
            on_phase=on_phase,
            allow_unarmed=allow_unarmed,
        )
    pipe = build_pipeline(
        loaded.plan, sessions, incidents=incidents, environ=environ, relay_idle=relay_idle
    )
    return MonitorApp(
        loaded=loaded,
        chain=chain,
        sessions=sessions,
        bus=pipe.bus,
        relay=pipe.relay,
        responder=responder,
        desk=pipe.desk,
        notifier=pipe.notifier,
    )
