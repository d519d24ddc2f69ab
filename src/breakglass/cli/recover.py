"""Compensation commands: ``breakglass recover compute|distribution``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import transaction

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
    if output is OutputFormat.CSV:
        typer.echo(entitlements_csv(result.entitlements), nl=False)
    elif output is OutputFormat.JSON:
        typer.echo(entitlements_json(result))
    else:
        out.print(entitlements_table(result))
    for label in result.unresolved_exclusions:
        err.print(f"[yellow]warning[/yellow] exclusion {escape(label)!r} is not an address")
    for note in result.notes:
        err.print(escape(note))


@app.command("distribution")
def distribution_command(
    incident: IncidentId,
    token: Annotated[str, typer.Option("--token", "-t", help="The token's address.")],
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
        row = build_distribution(session, incident, token, plan=loaded.plan, cause=cause.value)
        tree = MerkleDistribution.load(row.tree)
        root, total, claims = row.root, row.total, len(tree.values)
    tree_path, claims_path = write_distribution(tree, out_dir)
    err.print(f"{claims} claims, total {total}; wrote {tree_path} and {claims_path}")
    out.print(root)
