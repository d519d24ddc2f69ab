"""``breakglass cluster status``: the replicas of scale-out mode, seen from NATS and
PostgreSQL."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.errors import ConfigError
from breakglass.plan import load_plan
from breakglass.settings import Settings

if TYPE_CHECKING:
    from breakglass.cluster.status import ClusterStatus, Holder

__all__ = ["app", "status_command"]

app = typer.Typer(help="Scale-out mode: replicas, leases and lag.", no_args_is_help=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("status")
def status_command(
    plan_file: PlanOption = DEFAULT_PLAN,
    bus: Annotated[
        str | None,
        typer.Option("--bus", help="NATS URL (default: BREAKGLASS_NATS_URL)."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table for people, json for tools.")
    ] = OutputFormat.TABLE,
) -> None:
    """Who leads each chain and signer and for how long, each chain's lag (checkpoint
    against head), and whether NATS and PostgreSQL answer.

    Exit 0 when both answer and every chain has a leader, 1 otherwise, 2 on bad input.
    """
    from breakglass import store  # noqa: PLC0415 - SQLAlchemy is slow to import
    from breakglass.cluster.status import read_status  # noqa: PLC0415

    settings = Settings()
    nats_url = bus or settings.nats_url
    if not nats_url:
        raise ConfigError("no NATS to ask: pass --bus nats://… or set BREAKGLASS_NATS_URL")
    loaded = load_plan(plan_file)
    engine = store.make_engine(settings.resolved_database_url())
    try:
        status = asyncio.run(
            read_status(plan=loaded.plan, nats_url=nats_url, sessions=store.session_factory(engine))
        )
    finally:
        engine.dispose()
    if output is OutputFormat.JSON:
        body = orjson.dumps(status.to_dict(), option=orjson.OPT_INDENT_2).decode()
        out.print(body, markup=False)
    else:
        _print(status)
    if not status.healthy:
        raise typer.Exit(1)


def _print(status: ClusterStatus) -> None:
    for name, state in (("NATS", status.nats), ("PostgreSQL", status.postgres)):
        colour = "green" if state == "ok" else "red"
        out.print(f"{name}: [{colour}]{escape(state)}[/]")
    chains = Table("chain", "leader", "for", "checkpoint", "head", "lag", title="Chains")
    for chain in status.chains:
        lag = "?" if chain.lag is None else f"{chain.lag} blocks"
        chains.add_row(
            escape(chain.chain),
            _owner(chain.leader),
            _age(chain.leader),
            _number(chain.checkpoint),
            escape(chain.error) if chain.error else _number(chain.head),
            lag,
        )
    out.print(chains)
    leases = Table("lease", "holder", "for", "fencing token", title="Signers and roles")
    for holder in [*status.signers, *status.roles]:
        token = "" if holder.token is None else str(holder.token)
        leases.add_row(escape(holder.key), _owner(holder), _age(holder), token)
    out.print(leases)
    if not status.healthy:
        err.print("[red]not healthy[/]: see the rows in red or without a leader")


def _owner(holder: Holder) -> str:
    return escape(holder.owner) if holder.owner else "[red]nobody[/]"


def _age(holder: Holder) -> str:
    if holder.held_for is None:
        return ""
    seconds = int(holder.held_for)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _number(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"
