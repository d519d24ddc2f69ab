"""Compensation commands: ``breakglass recover compute|distribution``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import transaction

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.analysis.assets import AssetInfo
    from breakglass.plan.models import Plan

__all__ = ["app"]

app = typer.Typer(help="Compensation: entitlements and Merkle distributions.", no_args_is_help=True)


class CauseChoice(StrEnum):
    """The cause of the incident, which selects the policy's coverage."""

    CONTRACT_FLAW = "contract-flaw"
    USER_ERROR = "user-error"
    THIRD_PARTY_FLAW = "third-party-flaw"


class OutputFormat(StrEnum):
    """How entitlements are printed."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


IncidentId = Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident's id.")]
CauseOption = Annotated[
    CauseChoice, typer.Option("--cause", help="What caused the losses.", case_sensitive=False)
]


@app.command("compute")
def compute_command(
    incident: IncidentId,
    plan: PlanOption = DEFAULT_PLAN,
    cause: CauseOption = CauseChoice.CONTRACT_FLAW,
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")
    ] = OutputFormat.TABLE,
) -> None:
    """Apply the plan's compensation policy to the incident's losses."""
    from breakglass.recovery import (  # noqa: PLC0415
        entitlements_csv,
        entitlements_json,
        entitlements_table,
    )
    from breakglass.recovery.service import compute_compensation  # noqa: PLC0415

    loaded = load_plan(plan)
    with transaction() as session:
        result = compute_compensation(session, loaded.plan, incident, cause=cause.value)
        units = _units(session, loaded.plan, incident) if output is OutputFormat.TABLE else {}
    if output is OutputFormat.CSV:
        typer.echo(entitlements_csv(result.entitlements), nl=False)
    elif output is OutputFormat.JSON:
        typer.echo(entitlements_json(result))
    else:
        out.print(entitlements_table(result, units))
    for label in result.unresolved_exclusions:
        err.print(f"[yellow]warning[/yellow] exclusion {escape(label)!r} is not an address")
    for note in result.notes:
        err.print(escape(note))


def _units(session: Session, plan: Plan, incident: int) -> dict[str, AssetInfo]:
    """The incident's tokens' units by lower-case address (kept ones first, then read)."""
    from breakglass.analysis.assets import incident_assets  # noqa: PLC0415
    from breakglass.analysis.unit_store import known_units  # noqa: PLC0415

    found, notes = known_units(session, plan, incident_assets(session, incident))
    for note in notes:
        err.print(escape(note))
    return {address: info for (_chain, address), info in found.items()}


def _token_address(plan: Plan, token: str) -> str:
    """``--token`` as an address: a contract of the plan may be named (``dusd``)."""
    contract = plan.contracts.get(token)
    return contract.address if contract is not None else token


@app.command("distribution")
def distribution_command(
    incident: IncidentId,
    token: Annotated[
        str, typer.Option("--token", "-t", help="The token: its address or its plan name.")
    ],
    plan: PlanOption = DEFAULT_PLAN,
    cause: CauseOption = CauseChoice.CONTRACT_FLAW,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for tree.json and claims.json.")
    ] = Path(),
) -> None:
    """Build and store the Merkle distribution of one token; print its root."""
    from breakglass.recovery import MerkleDistribution  # noqa: PLC0415
    from breakglass.recovery.service import build_distribution, write_distribution  # noqa: PLC0415

    loaded = load_plan(plan)
    with transaction() as session:
        address = _token_address(loaded.plan, token)
        row = build_distribution(session, incident, address, plan=loaded.plan, cause=cause.value)
        tree = MerkleDistribution.load(row.tree)
        root, total, claims = row.root, row.total, len(tree.values)
    tree_path, claims_path = write_distribution(tree, out_dir)
    err.print(f"{claims} claims, total {total}; wrote {tree_path} and {claims_path}")
    out.print(root)
