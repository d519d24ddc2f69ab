"""``breakglass restore plan|approve|sign|run``: restore operations through the admin Safe,
gated by the plan.

``plan`` builds the verified fix and every unpause as one Safe transaction (MultiSendCallOnly),
simulates it on a fork of the head, stores it gated (``safe sign`` will not execute it) and
writes it in Safe Transaction Service JSON. ``run`` executes it only when every gate holds and
the owners have signed; it exits 1 while a gate or a signature is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database

__all__ = ["app", "approve_command", "plan_command", "run_command", "sign_command"]

app = typer.Typer(help="Restore operations: the gated Safe transaction.", no_args_is_help=True)

IncidentId = Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident's id.")]
FixOption = Annotated[Path, typer.Option("--fix", help="The verified fix (FIX.yaml).")]


@app.command("plan")
def plan_command(
    incident: IncidentId,
    fix: FixOption,
    plan: PlanOption = DEFAULT_PLAN,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the Safe transaction JSON here.")
    ] = None,
) -> None:
    """Propose the restoring Safe transaction (fix and unpauses), simulated first."""
    from breakglass.outputs import write_text  # noqa: PLC0415
    from breakglass.recovery.fixspec import load_fix  # noqa: PLC0415
    from breakglass.recovery.restore_service import plan_restore  # noqa: PLC0415

    loaded = load_plan(plan)
    spec, digest = load_fix(fix)
    with open_database() as sessions:
        proposal = plan_restore(
            sessions, loaded=loaded, incident_id=incident, spec=spec, digest=digest
        )
    for call in proposal.calls:
        out.print(f"  - {escape(call.label)}")
    out.print(f"Safe proposal {proposal.proposal_id} ({proposal.safe_tx_hash}), gated")
    if output is not None:
        write_text(output, json.dumps(proposal.service_json, indent=2) + "\n")
        err.print(f"wrote {output}")


@app.command("approve")
def approve_command(
    incident: IncidentId,
    person: Annotated[str, typer.Option("--person", help="Who approves (a person of the plan).")],
    plan: PlanOption = DEFAULT_PLAN,
) -> None:
    """Record a person's approval of the restore, for the roles the plan names."""
    from breakglass.recovery.restore_service import approve_restore  # noqa: PLC0415

    loaded = load_plan(plan)
    with open_database() as sessions, sessions.begin() as session:
        roles = approve_restore(session, plan=loaded.plan, incident_id=incident, person=person)
    out.print(f"approved by {escape(person)} for {escape(', '.join(roles))}")


@app.command("sign")
def sign_command(
    incident: IncidentId,
    signer: Annotated[str, typer.Option("--signer", help="A key signer who owns the Safe.")],
    plan: PlanOption = DEFAULT_PLAN,
) -> None:
    """Sign the incident's restore proposal with a Safe owner's key (never executes it)."""
    from breakglass.recovery.restore_service import sign_restore  # noqa: PLC0415

    loaded = load_plan(plan)
    with open_database() as sessions:
        proposal, count, threshold = sign_restore(
            sessions, loaded=loaded, incident_id=incident, signer=signer
        )
    out.print(f"proposal {proposal}: {count} of {threshold} signatures")


@app.command("run")
def run_command(
    incident: IncidentId,
    fix: FixOption,
    executor: Annotated[
        str, typer.Option("--executor", help="Key signer that sends execTransaction.")
    ],
    plan: PlanOption = DEFAULT_PLAN,
) -> None:
    """Check every gate and, when all hold and the owners signed, execute the restore."""
    from breakglass.recovery.fixspec import load_fix  # noqa: PLC0415
    from breakglass.recovery.restore_service import run_restore  # noqa: PLC0415

    loaded = load_plan(plan)
    spec, digest = load_fix(fix)
    with open_database() as sessions:
        outcome = run_restore(
            sessions, loaded=loaded, incident_id=incident, spec=spec, digest=digest,
            executor=executor,
        )  # fmt: skip
    for gate in outcome.gates:
        mark = "[green]holds[/green]" if gate.ok else "[red]does not hold[/red]"
        out.print(f"{escape(gate.name)}: {mark} ({escape(gate.detail)})")
    count, threshold = outcome.signatures
    out.print(f"signatures: {count} of {threshold}")
    if outcome.tx_hash is None:
        err.print("[red]not executed[/red]: every gate must hold and the owners must sign")
        raise typer.Exit(1)
    out.print(f"executed in {outcome.tx_hash}; incident {outcome.status}")
    for missing in outcome.missing:
        err.print(f"[red]not done[/red] {escape(missing)}")
    if outcome.missing:
        raise typer.Exit(1)
