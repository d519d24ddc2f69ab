"""``breakglass analyze incident|losses``: measure an incident's losses and show them.

``incident`` reads the chain (exploit receipts and traces, the vault's logs, positions at the
block before the first exploit and at containment) and stores the affected users, their
losses, the attacker cluster and the fund movements as the incident's evidence, replacing an
earlier run's. ``losses`` prints what is stored as a table, CSV or JSON.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, MaybePlanOption, PlanOption, default_plan
from breakglass.plan import load_plan
from breakglass.runtime.database import transaction

if TYPE_CHECKING:
    from breakglass.analysis.assets import AssetInfo
    from breakglass.analysis.incident import IncidentAnalysis
    from breakglass.analysis.losses import Loss
    from breakglass.plan.loader import LoadedPlan
    from breakglass.store.models import UserLoss

__all__ = ["LossFormat", "app", "incident_command", "losses_command"]

app = typer.Typer(help="Incident losses: affected users, attacker cluster.", no_args_is_help=True)

IncidentId = Annotated[int, typer.Argument(metavar="ID", help="The incident's id.")]


class LossFormat(StrEnum):
    """Output formats of ``analyze losses``."""

    table = "table"
    csv = "csv"
    json = "json"


async def _analyze(
    loaded: LoadedPlan,
    chain: str | None,
    txs: list[str],
    containment_block: int | None,
    contracts: list[str] | None,
) -> tuple[IncidentAnalysis, dict[str, AssetInfo]]:
    """The analysis, and the symbol and decimals of each asset lost (by lower-case address)."""
    from breakglass.analysis.assets import read_assets  # noqa: PLC0415
    from breakglass.analysis.incident import analyze_incident, incident_chain  # noqa: PLC0415
    from breakglass.cli.backfill import chain_pool  # noqa: PLC0415

    name = incident_chain(loaded.plan, chain)
    pool = chain_pool(loaded, name)
    try:
        analysis = await analyze_incident(
            pool,
            loaded.plan,
            txs,
            containment_block=containment_block,
            chain=name,
            contracts=contracts,
        )
        units = await read_assets(
            pool=pool, chain=name, addresses={x.asset for x in analysis.losses}
        )
    finally:
        await pool.aclose()
    return analysis, {address: info for (_chain, address), info in units.items()}


@app.command("incident")
def incident_command(
    incident_id: IncidentId,
    txs: Annotated[
        list[str], typer.Option("--tx", metavar="HASH", help="An exploit transaction (repeat).")
    ],
    plan_file: PlanOption = DEFAULT_PLAN,
    containment_block: Annotated[
        int | None,
        typer.Option(
            "--containment-block",
            min=0,
            help="Block where the attack was contained (default: latest, users at-risk).",
        ),
    ] = None,
    chain: Annotated[
        str | None, typer.Option("--chain", help="Chain of the plan's positions, if several.")
    ] = None,
) -> None:
    """Compute the losses of incident ID from its exploit transactions and store them.

    Users' positions are valued with the plan's `analysis.positions` of the incident's
    contracts (all of them when the incident names none of them). Running it again
    replaces the stored losses, attacker records, fund movements and affected addresses.
    Exit 0 when done, 2 on bad input.
    """
    from breakglass.analysis.assets import plan_names  # noqa: PLC0415
    from breakglass.analysis.incident import store_incident_analysis  # noqa: PLC0415
    from breakglass.analysis.loss_report import losses_table  # noqa: PLC0415
    from breakglass.incidents.service import get_incident  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with transaction() as session:
        named = [
            c for c in get_incident(session, incident_id).contracts if c in loaded.plan.contracts
        ]
    scope = named if set(named) & _positions(loaded) else None
    analysis, units = asyncio.run(_analyze(loaded, chain, txs, containment_block, scope))
    with transaction() as session:
        store_incident_analysis(session, incident_id, analysis)
    out.print(losses_table(analysis.losses, units=units, names=plan_names(loaded.plan)))
    for asset, total in sorted(analysis.total_losses().items()):
        out.print(f"total loss of {asset}: {total}")
    out.print(f"attacker cluster ({len(analysis.cluster.members)}):")
    for member in analysis.cluster.members.values():
        out.print(f"  {member.address} {member.kind}: {escape(member.note)}")
    statuses = [row.status for row in analysis.affected]
    summary = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    out.print(
        f"incident #{incident_id}: blocks {analysis.first_block}..{analysis.end_block}, "
        f"{len(analysis.losses)} loss rows, {len(analysis.movements)} fund movements, "
        f"affected: {summary or 'none'}"
    )


@app.command("losses")
def losses_command(
    incident_id: IncidentId,
    fmt: Annotated[
        LossFormat, typer.Option("--format", help="table for people, csv or json for tools.")
    ] = LossFormat.table,
    plan_file: MaybePlanOption = None,
) -> None:
    """Print the stored losses of incident ID. Exit 0, 2 on bad input.

    CSV and JSON carry exact base units. The table shows each amount in its token's unit too,
    read from the chain through the plan's endpoints when a plan is at hand, and names the
    addresses the plan knows.
    """
    from sqlalchemy import select  # noqa: PLC0415

    from breakglass.analysis.loss_report import (  # noqa: PLC0415
        losses_csv,
        losses_json,
        losses_table,
    )
    from breakglass.incidents.service import get_incident  # noqa: PLC0415
    from breakglass.store.models import UserLoss  # noqa: PLC0415

    with transaction() as session:
        get_incident(session, incident_id)
        query = select(UserLoss).where(UserLoss.incident_id == incident_id)
        rows = list(session.scalars(query.order_by(UserLoss.address, UserLoss.asset)))
        losses = [_stored_loss(r) for r in rows]
    if fmt is LossFormat.table:
        out.print(losses_table(losses, **_table_terms(plan_file, rows)))
    elif fmt is LossFormat.csv:
        out.print(losses_csv(losses), end="", markup=False, highlight=False, soft_wrap=True)
    else:
        out.print(losses_json(losses), markup=False, highlight=False, soft_wrap=True)


_TERMS = ("before", "after", "received", "paid_in", "taken")


def _table_terms(plan_file: Path | None, rows: list[UserLoss]) -> dict[str, Any]:
    """``units`` and ``names`` for the losses table; none without a plan, and a note on
    stderr for a chain whose tokens cannot be read (its amounts stay in base units)."""
    from breakglass.analysis.assets import plan_names, read_plan_assets  # noqa: PLC0415

    path = default_plan(plan_file)
    if path is None or not rows:
        return {}
    loaded = load_plan(path)
    wanted = {(r.chain, r.asset) for r in rows}
    found, notes = asyncio.run(read_plan_assets(plan=loaded.plan, wanted=wanted))
    for note in notes:
        err.print(note, markup=False)
    units = {address: info for (_chain, address), info in found.items()}
    return {"units": units, "names": plan_names(loaded.plan)}


def _positions(loaded: LoadedPlan) -> set[str]:
    analysis = loaded.plan.analysis
    return {p.contract for p in analysis.positions} if analysis is not None else set()


def _stored_loss(row: UserLoss) -> Loss:
    """A stored loss row as a :class:`Loss`, with its USD figure when it was priced."""
    from breakglass.analysis.losses import Loss, PricedLoss  # noqa: PLC0415
    from breakglass.analysis.pricing import UsdFigure  # noqa: PLC0415

    terms = {k: int(row.detail.get(k, 0)) for k in _TERMS}
    if "price_source" in row.detail:
        figure = UsdFigure.from_dict(row.detail)
        return PricedLoss(row.address, row.asset, int(row.amount), **terms, usd=figure)
    return Loss(address=row.address, asset=row.asset, amount=int(row.amount), **terms)
