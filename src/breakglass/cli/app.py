"""Entry point of the ``breakglass`` command.

Startup imports typer and nothing heavy: each command's module is imported only when that
command runs (see :mod:`breakglass.cli.lazy`), so ``--help``, ``version`` and the break-glass
``pause`` do not pay for the drills, safe-eth-py or the dashboard. To add a command, add a row to
``COMMANDS``; its summary must be the first sentence of the command's help (a test checks).
"""

from __future__ import annotations

import sys

import typer

from breakglass import __version__
from breakglass.cli.lazy import LazyCommand, LazyGroup, QuickCommand
from breakglass.errors import BreakglassError

__all__ = ["COMMANDS", "app", "main"]

_CLI = "breakglass.cli"

COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "init",
        f"{_CLI}.init:init_command",
        "Write a commented starter plan to DIRECTORY/breakglass.yaml.",
    ),
    LazyCommand("plan", f"{_CLI}.plan:app", "Check the incident-response plan."),
    LazyCommand("db", f"{_CLI}.db:app", "Manage the breakglass database schema."),
    LazyCommand(
        "import", f"{_CLI}.importers:app", "Write a plan from another tool's configuration."
    ),
    LazyCommand("forta", f"{_CLI}.forta:app", "Forta alerts in, Forta findings out."),
    LazyCommand("rules", f"{_CLI}.rules:app", "List, document and try detection rules."),
    LazyCommand(
        "backfill",
        f"{_CLI}.backfill:backfill_command",
        "Fetch every log of the plan's contracts on CHAIN in blocks FROM..TO, in order.",
    ),
    LazyCommand(
        "doctor",
        f"{_CLI}.doctor:doctor_command",
        "Preflight the plan against the live chain and this machine.",
    ),
    LazyCommand(
        "monitor",
        f"{_CLI}.monitor:monitor_command",
        "Watch every chain of the plan (or each --chain) with its rules until Ctrl-C: print"
        " each new alert, run the playbooks the plan binds to it, open or update its"
        " incident, and deliver notifications.",
    ),
    LazyCommand("cluster", f"{_CLI}.cluster:app", "Scale-out mode: replicas, leases and lag."),
    LazyCommand("pause", f"{_CLI}.respond:pause_command", "Break glass: pause CONTRACT now."),
    LazyCommand(
        "approve",
        f"{_CLI}.respond:approve_command",
        "Approve a step waiting for approval and resume its playbook from there, live.",
    ),
    LazyCommand(
        "tick",
        f"{_CLI}.respond:tick_command",
        "Tick a manual checklist step as done (PERSON must be in the step's owner role).",
    ),
    LazyCommand("playbook", f"{_CLI}.respond:playbook_app", "Run playbooks and see their runs."),
    LazyCommand(
        "safe",
        f"{_CLI}.respond:safe_app",
        "Collect Safe signatures, execute, export and import.",
    ),
    LazyCommand(
        "incident",
        f"{_CLI}.incident:app",
        "Incidents: status, roles, timeline, tasks, updates.",
    ),
    LazyCommand(
        "notify", f"{_CLI}.notify:app", "Notification deliveries, test messages and paging."
    ),
    LazyCommand(
        "recover", f"{_CLI}.recover:app", "Compensation: entitlements and Merkle distributions."
    ),
    LazyCommand("news", f"{_CLI}.news:app", "Vulnerability news for the plan's components."),
    LazyCommand(
        "regulatory",
        f"{_CLI}.regulatory:app",
        "Regulatory clocks: shipped regimes, deadlines per incident, events and filings.",
    ),
    LazyCommand("status", f"{_CLI}.status:app", "The public status page."),
    LazyCommand("token", f"{_CLI}.token:app", "API tokens: create and revoke."),
    LazyCommand(
        "serve",
        f"{_CLI}.serve:serve_command",
        "Serve the dashboard (sign in at / with a token from `breakglass token create`), the"
        " API under /api (the same tokens as bearer tokens) and the public status page at"
        " /status, /status.json and /feed.atom.",
    ),
    LazyCommand(
        "demo",
        f"{_CLI}.demo:demo_command",
        "Deploy a lending protocol on a local anvil chain, attack it with a flash-swap price"
        " manipulation, and watch breakglass detect it, pause the pool, open the incident,"
        " measure the losses, compute the compensation Merkle root and write the status page"
        " and the post-mortem.",
    ),
    LazyCommand(
        "drill",
        f"{_CLI}.drill:app",
        "Drills: scripted attacks against the real monitor, and tabletop exercises.",
    ),
    LazyCommand(
        "postmortem",
        f"{_CLI}.postmortem:postmortem_command",
        "Write postmortem-INCIDENT.FORMAT into DIR from the incident store.",
    ),
    LazyCommand(
        "analyze",
        f"{_CLI}.analyze:app",
        "Post-incident analysis: transactions, losses, the attacker cluster.",
    ),
    LazyCommand(
        "fix", f"{_CLI}.fix:app", "Eradication: verify a fix against the replayed exploit."
    ),
    LazyCommand(
        "restore", f"{_CLI}.restore:app", "Restore operations: the gated Safe transaction."
    ),
    LazyCommand(
        "migrate", f"{_CLI}.migrate:app", "Migration to a new contract: position snapshots."
    ),
)

# Commands that log nothing skip structlog's import (a tenth of a second) and the settings.
_UNLOGGED = frozenset({"version"})


class _Group(LazyGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    name="breakglass",
    cls=_Group,
    help="Incident response and recovery for smart-contract protocols.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Typer's rich help imports rich's markdown and traceback modules: the list of commands
    # in plain text answers in half the time. Each command's own help stays rich.
    rich_markup_mode=None,
    add_completion=False,
)


@app.callback()
def _configure(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand in _UNLOGGED:
        return
    from breakglass.logs import configure_logging  # noqa: PLC0415 - structlog is slow to import
    from breakglass.settings import Settings  # noqa: PLC0415

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)


@app.command(cls=QuickCommand)
def version() -> None:
    """Print the breakglass version."""
    typer.echo(__version__)


def main() -> None:
    """Run the CLI; bad input becomes a message and exit code 2, never a traceback."""
    try:
        app()
    except BreakglassError as exc:
        # Imported only now: rich is slow to import, and the plan package pulls in its loader
        # (a PlanLoadError means the plan was loaded already).
        from rich.markup import escape  # noqa: PLC0415

        from breakglass.cli.console import err  # noqa: PLC0415
        from breakglass.plan.issues import PlanLoadError  # noqa: PLC0415

        if isinstance(exc, PlanLoadError):
            for issue in exc.issues:
                err.print(f"[red]error[/red] {escape(str(issue))}")
            if (count := len(exc.issues)) > 1:
                err.print(f"{count} problems in the plan")
        else:
            err.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(2)
