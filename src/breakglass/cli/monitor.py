"""``breakglass monitor``: watch the plan's chains with its rules, storing and printing alerts;
alone (embedded) or as one replica of scale-out mode."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanArgument
from breakglass.errors import PlanError
from breakglass.plan import load_plan
from breakglass.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from breakglass.detect.health import Condition, MonitorStatus
    from breakglass.events import AlertRaised, Event
    from breakglass.ingest import BlockAdded
    from breakglass.plan.loader import LoadedPlan
    from breakglass.respond.journal import PhaseEvent

__all__ = ["format_alert", "monitor_command"]

_COLOURS = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def monitor_command(
    plan_file: PlanArgument = DEFAULT_PLAN,
    chain: Annotated[
        list[str] | None,
        typer.Option(
            "--chain", help="Watch only this chain of the plan (repeatable); default: every one."
        ),
    ] = None,
    bus: Annotated[
        str | None,
        typer.Option(
            "--bus",
            help="Scale-out mode: the NATS JetStream URL replicas share (default: "
            "BREAKGLASS_NATS_URL; unset: one process, in-process bus). Needs PostgreSQL.",
        ),
    ] = None,
    lease_ttl: Annotated[
        float,
        typer.Option(
            "--lease-ttl",
            min=0.5,
            help="Scale-out mode: seconds a lease outlives its holder's last renewal (the "
            "bucket's, set by the first replica); a standby takes over about this long after "
            "a leader dies.",
        ),
    ] = 2.0,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.05, help="Seconds between head polls.")
    ] = 0.5,
    respond: Annotated[
        bool,
        typer.Option(
            "--respond/--watch-only",
            help="Run the playbooks the plan binds to the alerts (default), or only watch.",
        ),
    ] = True,
    allow_unarmed: Annotated[
        bool,
        typer.Option(
            "--allow-unarmed",
            help="Start even when a signer of an automatic step cannot be loaded "
            "(its steps then cannot act); without it such a monitor refuses to start.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print one line per block.")
    ] = False,
    status_every: Annotated[
        float,
        typer.Option(
            "--status-every", min=0, help="Seconds between status lines on stderr; 0 for none."
        ),
    ] = 60.0,
) -> None:
    """Watch every chain of the plan (or each --chain) with its rules until Ctrl-C: print
    each new alert, run the playbooks the plan binds to it, open or update its incident, and
    deliver notifications.

    Each chain has its own task: one whose endpoints are down is retried alone while the
    others go on, and the incident lead is paged that it cannot be watched. Alerts are
    stored with the stream's checkpoint: a restart resumes where it stopped and never
    records an alert twice. With --bus (or BREAKGLASS_NATS_URL) this
    process is one replica of scale-out mode: it follows the chains whose lease it holds and
    stands by for the others (see docs/architecture.md, "Scale-out"). Exit 0 when stopped,
    2 on bad input, when the database's checkpoint is of another chain, when an endpoint
    serves another chain id than the plan's, when no endpoint URL can be resolved, or when a
    signer of an automatic step cannot be loaded (unless --allow-unarmed or --watch-only).
    """
    # SQLAlchemy and Alembic take a second to import; other commands should not pay for it.
    from breakglass import store  # noqa: PLC0415

    loaded = load_plan(plan_file)
    names = _pick_chains(loaded, chain)
    settings = Settings()
    url = settings.resolved_database_url()
    nats_url = bus or settings.nats_url
    if nats_url:
        from breakglass.runtime.scaleout import check_scaleout_database  # noqa: PLC0415

        check_scaleout_database(url)
    store.upgrade(url)
    engine = store.make_engine(url)
    options = _Options(poll_interval, respond, allow_unarmed, verbose, status_every, lease_ttl)
    try:
        asyncio.run(_run(loaded, names, store.session_factory(engine), url, nats_url, options))
    finally:
        engine.dispose()
    err.print(f"{escape(', '.join(names))}: monitor stopped")


def _pick_chains(loaded: LoadedPlan, chains: list[str] | None) -> list[str]:
    known = sorted(loaded.plan.chains)
    if not chains:
        if not known:
            raise PlanError("the plan has no chains to watch")
        return known
    unknown = [c for c in chains if c not in loaded.plan.chains]
    if unknown:
        from breakglass.detect.monitor import UnknownMonitorChain  # noqa: PLC0415

        raise UnknownMonitorChain(
            f"the plan has no chain {unknown[0]!r} (chains: {', '.join(known) or 'none'})"
        )
    return list(dict.fromkeys(chains))


@dataclass(frozen=True)
class _Options:
    poll_interval: float
    respond: bool
    allow_unarmed: bool
    verbose: bool
    status_every: float
    lease_ttl: float


async def _run(
    loaded: LoadedPlan,
    chains: list[str],
    sessions: sessionmaker[Session],
    database_url: str,
    nats_url: str | None,
    options: _Options,
) -> None:
    from breakglass.cluster.connect import masked  # noqa: PLC0415
    from breakglass.events import AlertRaised, IncidentChanged, IncidentOpened  # noqa: PLC0415
    from breakglass.runtime.fleet import build_fleet  # noqa: PLC0415 - see monitor_command

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    wiring: dict[str, Any] = {
        "chains": chains,
        "sessions": sessions,
        "respond": options.respond,
        "prompt": getpass.getpass if sys.stdin.isatty() else None,
        "on_phase": _print_phase,
        "allow_unarmed": options.allow_unarmed,
    }
    if nats_url:
        from breakglass.runtime.scaleout import build_replica  # noqa: PLC0415

        fleet = await build_replica(loaded, database_url=database_url, nats_url=nats_url, **wiring)
    else:
        fleet = build_fleet(loaded, **wiring)  # refuses (an unarmed signer) before "monitoring"
    fleet.bus.subscribe("cli.alerts", [AlertRaised], _print_alert)
    fleet.bus.subscribe("cli.incidents", [IncidentOpened, IncidentChanged], _print_incident)
    watching: set[str] = set()

    def _print_watching(chain: str) -> None:
        # Said once a chain's endpoint answered, not before a dead one fails the command; a
        # chain whose watch restarts is not announced twice.
        if chain not in watching:
            watching.add(chain)
            err.print(f"{escape(chain)}: monitoring; Ctrl-C to stop")

    if nats_url:  # a standby watches nothing yet: say the replica is up
        err.print(
            f"{escape(', '.join(chains))}: monitoring; a replica on {escape(masked(nats_url))}"
            "; Ctrl-C to stop"
        )
    try:
        await fleet.run(
            stop,
            poll_interval=options.poll_interval,
            on_block=_print_block if options.verbose else None,
            on_status=_print_status if options.status_every else None,
            status_every=options.status_every,
            on_clear=_print_cleared,
            on_watching=None if nats_url else _print_watching,
        )
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def format_alert(alert: AlertRaised) -> str:
    """One Rich-markup line: severity, rule, title, block, transaction."""
    colour = _COLOURS.get(alert.severity, "")
    tx = f" tx {alert.tx_hash}" if alert.tx_hash else ""
    return (
        f"[{colour}]{alert.severity.upper():<8}[/] {escape(alert.rule)}  {escape(alert.title)}"
        f"  [dim]block {alert.block_number}{tx}[/]"
    )


async def _print_alert(event: Event) -> None:
    from breakglass.events import AlertRaised  # noqa: PLC0415 - see monitor_command

    if isinstance(event, AlertRaised):
        out.print(format_alert(event))


async def _print_incident(event: Event) -> None:
    from breakglass.events import IncidentChanged, IncidentOpened  # noqa: PLC0415

    if isinstance(event, IncidentOpened):
        out.print(f"  incident {event.incident_id} opened: {escape(event.title)}")
    elif isinstance(event, IncidentChanged) and event.change == "alert" and event.after:
        out.print(f"  incident {event.incident_id}")


def _print_phase(event: PhaseEvent) -> None:
    detail = ", ".join(f"{k}={v}" for k, v in event.detail.items())
    out.print(f"  [bold]{event.action}[/bold] step {event.step}: {event.phase} {escape(detail)}")


def _print_block(block: BlockAdded, findings: int) -> None:
    found = f", {findings} finding{'s' if findings != 1 else ''}" if findings else ""
    err.print(
        f"[dim]{escape(block.chain)}: block {block.number} {block.hash[:10]}… "
        f"{len(block.logs)} logs{found}[/]"
    )


def _print_status(status: MonitorStatus) -> None:
    colour = "red" if status.standing else "dim"
    err.print(f"[{colour}]{escape(status.summary())}[/]")


def _print_cleared(condition: Condition) -> None:
    err.print(f"[green]CLEARED[/]  breakglass.health.{condition.check}  {escape(condition.title)}")
