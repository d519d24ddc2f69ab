"""``breakglass migrate snapshot``: every user's position per asset at a block, for a
migration to a new contract (CSV, JSON and a Merkle distribution per asset)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import transaction

__all__ = ["app", "snapshot_command"]

app = typer.Typer(help="Migration to a new contract: position snapshots.", no_args_is_help=True)


@app.command("snapshot")
def snapshot_command(
    incident: Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident's id.")],
    block: Annotated[int, typer.Option("--block", min=0, help="The block to snapshot.")],
    plan: PlanOption = DEFAULT_PLAN,
    chain: Annotated[str | None, typer.Option("--chain", help="Chain of the positions.")] = None,
    from_block: Annotated[
        int, typer.Option("--from-block", min=0, help="First block searched for users.")
    ] = 0,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the snapshot files.")
    ] = Path("snapshot"),
) -> None:
    """Snapshot every user's position per asset at a block, with Merkle roots for claims."""
    from breakglass.analysis.incident import incident_chain  # noqa: PLC0415
    from breakglass.cli.backfill import chain_pool  # noqa: PLC0415
    from breakglass.incidents import get_incident  # noqa: PLC0415
    from breakglass.recovery.snapshot import (  # noqa: PLC0415
        Snapshot,
        record_snapshot,
        take_snapshot,
        write_snapshot,
    )

    loaded = load_plan(plan)
    name = incident_chain(loaded.plan, chain)
    with transaction() as session:
        get_incident(session, incident)  # before reading the chain: a wrong id fails at once

    async def snap() -> Snapshot:
        pool = chain_pool(loaded, name)
        try:
            return await take_snapshot(
                pool, loaded.plan, chain=name, block=block, from_block=from_block
            )
        finally:
            await pool.aclose()

    snapshot = asyncio.run(snap())
    write_snapshot(snapshot, out_dir)
    with transaction() as session:
        roots = record_snapshot(session, incident_id=incident, snapshot=snapshot)
    for asset, info in roots.items():
        users = len(snapshot.positions.get(asset, {}))
        out.print(f"{asset}: {users} users, total {info['total']}, root {info['root']}")
    err.print(f"wrote {escape(str(out_dir))}/snapshot.csv, snapshot.json and a tree per asset")
