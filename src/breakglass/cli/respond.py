"""Response commands: ``pause``, ``playbook run``, ``approve``, ``tick`` and ``safe …``."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from breakglass.cli.console import err, out
from breakglass.cli.listing import FormatOption, ListFormat, print_json, table_with
from breakglass.cli.options import PlanOption
from breakglass.errors import BreakglassError
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from breakglass.plan.loader import LoadedPlan
    from breakglass.respond.decisions import ApprovalRequest
    from breakglass.respond.journal import PhaseEvent
    from breakglass.respond.runner import RunResult

__all__ = ["approve_command", "pause_command", "playbook_app", "safe_app", "tick_command"]

playbook_app = typer.Typer(help="Run playbooks and see their runs.", no_args_is_help=True)
safe_app = typer.Typer(
    help="Collect Safe signatures, execute, export and import.", no_args_is_help=True
)

_STATUS = {
    "done": "green",
    "skipped": "cyan",
    "waiting": "yellow",
    "awaiting-approval": "yellow",
    "todo": "yellow",
    "failed": "bold red",
}


def _env(loaded: LoadedPlan, sessions: sessionmaker[Session]) -> Any:
    from breakglass.respond.env import LiveEnv  # noqa: PLC0415

    prompt = getpass.getpass if sys.stdin.isatty() else None
    return LiveEnv(loaded, sessions, prompt=prompt)


def _print_event(event: PhaseEvent) -> None:
    detail = ", ".join(f"{k}={v}" for k, v in event.detail.items() if k != "status")
    err.print(f"[dim]{event.at:%H:%M:%S.%f} step {event.step} {event.phase}[/dim] {escape(detail)}")


def print_run(result: RunResult, indent: str = "", label: str = "") -> None:
    """A run's steps as a table, fallback runs below the step that started them; ``label``
    follows the playbook id in every title (a dry run says so)."""
    table = Table(
        title=f"{indent}playbook {result.playbook}{label}: {result.status}", title_justify="left"
    )
    for column in ("step", "id", "action", "status", "note"):
        table.add_column(column)
    for step in result.steps:
        colour = _STATUS.get(step.status, "")
        table.add_row(
            str(step.position),
            str(step.step_id or ""),
            escape(step.summary),
            f"[{colour}]{step.status}[/{colour}]" if colour else step.status,
            escape(step.note + (f" tx {step.tx_hash}" if step.tx_hash else "")),
        )
    out.print(table)
    for step in result.steps:
        if step.fallback is not None:
            print_run(step.fallback, indent + "  fallback → ", label)


def _exit_for(result: RunResult) -> None:
    if result.status == "failed":
        raise typer.Exit(1)


def pause_command(
    contract: Annotated[str, typer.Argument(help="A contract named in the plan.")],
    plan_file: PlanOption = Path("breakglass.yaml"),
    signer: Annotated[
        str | None, typer.Option("--signer", help="Key signer (default: the playbooks' one).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print every phase.")] = False,
) -> None:
    """Break glass: pause CONTRACT now. Prechecked (already paused: nothing sent),
    simulated, sent with an emergency fee, and verified. Exit 1 if it failed."""
    from breakglass.respond.service import pause_contract  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database(migrate=True) as sessions:
        result = pause_contract(
            loaded,
            sessions,
            contract,
            signer=signer,
            env=_env(loaded, sessions),
            on_event=_print_event if verbose else None,
        )
    print_run(result)
    _exit_for(result)


@playbook_app.command("run")
def playbook_run_command(
    playbook: Annotated[str, typer.Argument(metavar="ID", help="A playbook id from the plan.")],
    plan_file: PlanOption = Path("breakglass.yaml"),
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Run it on a throwaway anvil fork of the plan's RPC."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print every phase.")] = False,
) -> None:
    """Run playbook ID now. With --dry-run, every step really runs on a local fork as the
    plan's signers (no keys needed) and nothing reaches the real chain or people; approval
    steps say whom they would wait for and go on as if approved. Exit 1 on failure."""
    from breakglass.respond import service  # noqa: PLC0415

    loaded = load_plan(plan_file)
    hook = _print_event if verbose else None
    with open_database(migrate=True) as sessions:
        if dry_run:
            err.print(
                f"dry run of {escape(playbook)} on a fork: nothing is sent to the chain, "
                "nobody is notified or paged, approval steps go on as if approved"
            )
            result = service.dry_run_playbook(loaded, sessions, playbook, on_event=hook)
        else:
            env = _env(loaded, sessions)
            result = service.run_playbook(loaded, sessions, playbook, env=env, on_event=hook)
    print_run(result, label=" (dry run on a fork, nothing sent)" if dry_run else "")
    _exit_for(result)


@playbook_app.command("runs")
def playbook_runs_command(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 10,
    fmt: FormatOption = ListFormat.table,
) -> None:
    """The latest playbook runs and the state of each step (ids for approve and tick)."""
    from breakglass.respond.decisions import approval_request  # noqa: PLC0415
    from breakglass.respond.service import list_runs  # noqa: PLC0415

    with open_database() as sessions:
        runs = list_runs(sessions, limit)
        # What each waiting approval would approve: the approver checks this hash.
        asks = {
            step.id: approval_request(sessions, step.id)
            for _, steps in runs
            for step in steps
            if step.status == "awaiting-approval"
        }
    if fmt is ListFormat.json:
        run_keys = ("id", "playbook", "dry_run", "status", "trigger")
        step_keys = ("id", "summary", "mode", "status", "error", "tx_hash", "decided_by")
        print_json(
            [
                {key: getattr(run, key) for key in run_keys}
                | {
                    "steps": [
                        {key: getattr(step, key) for key in step_keys}
                        | _approval_json(asks.get(step.id))
                        for step in steps
                    ]
                }
                for run, steps in runs
            ]
        )
        return
    if not runs:
        out.print("no playbook runs yet")
    for run, steps in runs:
        kind = " (dry run)" if run.dry_run else ""
        title = f"run {run.id}: {run.playbook}{kind}, {run.status}, trigger {run.trigger}"
        table = table_with(
            ("step id", "action", "mode", "status", "detail"),
            ids=("step id",),
            title=escape(title),
            title_justify="left",
        )
        for step in steps:
            colour = _STATUS.get(step.status, "")
            status = f"[{colour}]{step.status}[/{colour}]" if colour else step.status
            detail = (
                step.error or step.tx_hash or (f"by {step.decided_by}" if step.decided_by else "")
            )
            if (ask := asks.get(step.id)) is not None:
                detail = _approval_text(ask)
            table.add_row(str(step.id), escape(step.summary), step.mode, status, escape(detail))
        out.print(table)


def _approval_json(ask: ApprovalRequest | None) -> dict[str, Any]:
    if ask is None:
        return {}
    return {
        "approval": {
            "action": ask.action,
            "approvals_needed": ask.needed,
            "approved_by": list(ask.approved_by),
            "expires_at": ask.expires_at.isoformat(),
        }
    }


def _approval_text(ask: ApprovalRequest) -> str:
    votes = f"{len(ask.approved_by)} of {ask.needed} approvals"
    if ask.approved_by:
        votes += f" ({', '.join(ask.approved_by)})"
    return f"action {ask.action}; {votes}; expires {ask.expires_at:%Y-%m-%d %H:%M} UTC"


def approve_command(
    step_id: Annotated[int, typer.Argument(metavar="STEP", help="The waiting step's id.")],
    person: Annotated[str, typer.Option("--as", help="Who approves (a person in the plan).")],
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            help="The action hash `playbook runs` showed; refused if the step asks another.",
        ),
    ] = None,
    plan_file: PlanOption = Path("breakglass.yaml"),
) -> None:
    """Approve a step waiting for approval and resume its playbook from there, live.
    The approval covers the exact action the step asked for: if the plan would now build
    another (a different target, calldata or signer), it is refused. Steps of dry runs
    cannot be approved: a dry run never waits for approval."""
    from breakglass.respond.service import approve_step  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database() as sessions:
        result = approve_step(
            loaded, sessions, step_id, person, action=action, env=_env(loaded, sessions)
        )
    print_run(result)
    _exit_for(result)


def tick_command(
    step_id: Annotated[int, typer.Argument(metavar="STEP", help="The checklist step's id.")],
    person: Annotated[str, typer.Option("--as", help="Who did it (a person in the plan).")],
    plan_file: PlanOption = Path("breakglass.yaml"),
) -> None:
    """Tick a manual checklist step as done (PERSON must be in the step's owner role).
    Ticking the last waiting step completes the run."""
    from breakglass.respond.service import tick_step  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database() as sessions:
        ticked = tick_step(loaded, sessions, step_id=step_id, person=person)
    out.print(f"step {step_id} done by {escape(person)}; run {ticked.run_id} {ticked.run_status}")


@safe_app.command("sign")
def safe_sign_command(
    proposal: Annotated[int, typer.Argument(metavar="ID", help="The Safe proposal's id.")],
    signer: Annotated[str, typer.Option("--signer", help="A key signer who owns the Safe.")],
    plan_file: PlanOption = Path("breakglass.yaml"),
) -> None:
    """Show what Safe proposal ID does (target, decoded call, operation), then sign it; when
    this reaches the threshold, execute and verify it. A delegatecall to a target the plan
    does not allow is refused."""
    from breakglass.respond.safe_review import describe_safe_tx  # noqa: PLC0415
    from breakglass.respond.safes import load_proposal  # noqa: PLC0415
    from breakglass.respond.service import sign_proposal  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database() as sessions:
        shown = load_proposal(sessions, proposal)
        summary = describe_safe_tx(loaded, shown.tx)
        out.print(
            f"proposal {shown.id} on Safe {shown.tx.safe} (nonce {shown.tx.nonce}): "
            f"{escape(summary.text())}"
        )
        view, tx_hash = sign_proposal(
            loaded, sessions, proposal, signer, env=_env(loaded, sessions)
        )
    out.print(f"proposal {view.id}: {len(view.signatures)} of {view.threshold} signatures")
    if tx_hash:
        out.print(f"executed in {tx_hash}; {view.status}")


@safe_app.command("list")
def safe_list_command(
    fmt: FormatOption = ListFormat.table, plan_file: PlanOption = Path("breakglass.yaml")
) -> None:
    """Safe proposals: what each does (target, decoded call, operation) and its signatures.
    Calls are decoded with the plan's ABIs when the plan file is there."""
    from sqlalchemy import select  # noqa: PLC0415

    from breakglass.respond.safe_review import describe_safe_tx  # noqa: PLC0415
    from breakglass.respond.safes import load_proposal  # noqa: PLC0415
    from breakglass.store.models import SafeProposal  # noqa: PLC0415

    loaded = load_plan(plan_file) if plan_file.exists() else None
    with open_database() as sessions:
        with sessions() as session:
            query = select(SafeProposal.id).order_by(SafeProposal.id.desc())
            ids = session.scalars(query).all()
        views = [load_proposal(sessions, proposal_id) for proposal_id in ids]
    table = table_with(
        ("id", "safe", "nonce", "does", "signatures", "status", "safe tx hash"),
        ids=("id", "safe", "safe tx hash"),
    )
    listed = []
    for view in views:
        summary = describe_safe_tx(loaded, view.tx)
        listed.append(
            {
                "id": view.id,
                "safe": view.tx.safe,
                "nonce": view.tx.nonce,
                "to": summary.target,
                "to_name": summary.target_name,
                "operation": summary.operation,
                "call": summary.call,
                "value": str(summary.value),
                "signatures": len(view.signatures),
                "threshold": view.threshold,
                "status": view.status,
                "safe_tx_hash": "0x" + view.tx.safe_tx_hash.hex(),
            }
        )
        colour = "bold red" if summary.operation != "call" else "white"
        table.add_row(
            str(view.id),
            view.tx.safe,
            str(view.tx.nonce),
            f"[{colour}]{escape(summary.text())}[/{colour}]",
            f"{len(view.signatures)}/{view.threshold}",
            view.status,
            "0x" + view.tx.safe_tx_hash.hex(),
        )
    if fmt is ListFormat.json:
        print_json(listed)
        return
    out.print(table)


@safe_app.command("export")
def safe_export_command(
    proposal: Annotated[int, typer.Argument(metavar="ID", help="The Safe proposal's id.")],
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Proposal ID as Safe Transaction Service JSON, signatures included."""
    from breakglass.respond.safes import export_proposal  # noqa: PLC0415

    with open_database() as sessions:
        text = json.dumps(export_proposal(sessions, proposal), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        from breakglass.outputs import write_text  # noqa: PLC0415

        written = write_text(output, text + "\n")
        err.print(f"wrote {written}")


@safe_app.command("import")
def safe_import_command(
    file: Annotated[Path, typer.Argument(help="Safe Transaction Service JSON.")],
    safe: Annotated[str, typer.Option("--safe", help="The plan's Safe signer it belongs to.")],
    plan_file: PlanOption = Path("breakglass.yaml"),
) -> None:
    """Import a Safe transaction (from the Safe interface or another breakglass)."""
    from breakglass.respond.env import LiveEnv  # noqa: PLC0415
    from breakglass.respond.safe_review import describe_safe_tx  # noqa: PLC0415
    from breakglass.respond.safes import import_proposal, load_proposal  # noqa: PLC0415

    loaded = load_plan(plan_file)
    from breakglass import safejson  # noqa: PLC0415

    try:
        doc = safejson.loads(file.read_bytes(), what=str(file), max_bytes=1 << 20)
    except OSError as exc:
        raise BreakglassError(f"cannot read {file}: {exc}") from None
    if not isinstance(doc, dict):
        raise BreakglassError(f"{file} holds no JSON object")
    with open_database() as sessions:
        env = LiveEnv(loaded, sessions)
        config = env.safe_signer(safe)
        account = env.safe_account(config.chain, config.address)
        chain_id = loaded.plan.chains[config.chain].chain_id
        proposal = import_proposal(
            sessions,
            doc,
            chain=config.chain,
            chain_id=chain_id,
            threshold=account.threshold(),
            owners=account.owners(),
            delegatecall_allowed=config.delegatecall_allowed,
            safe_name=safe,
        )
        view = load_proposal(sessions, proposal)
    summary = describe_safe_tx(loaded, view.tx)
    out.print(f"proposal {proposal}: {escape(summary.text())}")
    out.print(f"{len(view.signatures)} of {view.threshold} signatures")
