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
from breakglass.settings import Settings

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
    from breakglass import store  # noqa: PLC0415 - SQLAlchemy is slow to import
    from breakglass.analysis.incident import incident_chain  # noqa: PLC0415
    from breakglass.cli.backfill import chain_pool  # noqa: PLC0415
    from breakglass.incidents import EventKind, get_incident, record_event  # noqa: PLC0415
    from breakglass.recovery.snapshot import (  # noqa: PLC0415
        SNAPSHOT_EVENT,
        Snapshot,
        take_snapshot,
        write_snapshot,
    )

    loaded = load_plan(plan)
    name = incident_chain(loaded.plan, chain)
    url = Settings().resolved_database_url()
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        with store.session_factory(engine).begin() as session:
            get_incident(session, incident)

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
        data = snapshot.to_json()
        roots = {a: {"root": v["root"], "total": v["total"]} for a, v in data["assets"].items()}
        with store.session_factory(engine).begin() as session:
            record_event(
                session, incident, EventKind.NOTE,
                f"Migration snapshot at block {block}: "
                + ", ".join(f"{a} root {r['root']}" for a, r in roots.items()),
                actor="breakglass", block_number=block,
                data={"kind": SNAPSHOT_EVENT, "chain": name, "block": block, "assets": roots},
            )  # fmt: skip
    finally:
        engine.dispose()
    for asset, info in roots.items():
        users = len(data["assets"][asset]["positions"])
        out.print(f"{asset}: {users} users, total {info['total']}, root {info['root']}")
    err.print(f"wrote {escape(str(out_dir))}/snapshot.csv, snapshot.json and a tree per asset")
