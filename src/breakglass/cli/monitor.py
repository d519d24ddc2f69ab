"""``breakglass monitor``: watch a chain with the plan's rules, storing and printing alerts."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
from typing import TYPE_CHECKING, Annotated

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
        str | None,
        typer.Option("--chain", help="A chain named in the plan; needed if it has several."),
    ] = None,
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
    """Watch CHAIN with the plan's rules until Ctrl-C: print each new alert, run the
    playbooks the plan binds to it, open or update its incident, and deliver notifications.

    Alerts are stored with the stream's checkpoint: a restart resumes where it stopped and
    never records an alert twice. Exit 0 when stopped, 2 on bad input, when the database's
    checkpoint is of another chain, when no endpoint is usable, or when a signer of an
    automatic step cannot be loaded (unless --allow-unarmed or --watch-only).
    """
    # SQLAlchemy and Alembic take a second to import; other commands should not pay for it.
    from breakglass import store  # noqa: PLC0415

    loaded = load_plan(plan_file)
    name = _pick_chain(loaded, chain)
    url = Settings().resolved_database_url()
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        asyncio.run(
            _run(
                loaded,
                name,
                store.session_factory(engine),
                poll_interval,
                respond=respond,
                allow_unarmed=allow_unarmed,
                verbose=verbose,
                status_every=status_every,
            )
        )
    finally:
        engine.dispose()
    err.print(f"{escape(name)}: monitor stopped")


def _pick_chain(loaded: LoadedPlan, chain: str | None) -> str:
    chains = sorted(loaded.plan.chains)
    if chain is not None:
        return chain
    if len(chains) == 1:
        return chains[0]
    raise PlanError(f"the plan has {len(chains)} chains ({', '.join(chains)}); pick one: --chain")


async def _run(
    loaded: LoadedPlan,
    chain: str,
    sessions: sessionmaker[Session],
    poll_interval: float,
    *,
    respond: bool,
    allow_unarmed: bool = False,
    verbose: bool = False,
    status_every: float = 60.0,
) -> None:
    from breakglass.events import AlertRaised, IncidentChanged, IncidentOpened  # noqa: PLC0415
    from breakglass.runtime.monitor import build_monitor  # noqa: PLC0415 - see monitor_command

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = build_monitor(
        loaded,
        chain=chain,
        sessions=sessions,
        respond=respond,
        prompt=getpass.getpass if sys.stdin.isatty() else None,
        on_phase=_print_phase,
        allow_unarmed=allow_unarmed,
    )  # refuses (an unarmed signer) before saying "monitoring"
    app.bus.subscribe("cli.alerts", [AlertRaised], _print_alert)
    app.bus.subscribe("cli.incidents", [IncidentOpened, IncidentChanged], _print_incident)
    err.print(f"{escape(chain)}: monitoring; Ctrl-C to stop")
    try:
        await app.run(
            stop,
            poll_interval=poll_interval,
            on_block=_print_block if verbose else None,
            on_status=_print_status if status_every else None,
            status_every=status_every,
            on_clear=_print_cleared,
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
