"""Entry point of the ``breakglass`` command."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from breakglass import __version__
from breakglass.cli import (
    analyze,
    backfill,
    db,
    demo,
    drill,
    incident,
    init,
    monitor,
    news,
    notify,
    plan,
    postmortem,
    recover,
    regulatory,
    respond,
    rules,
    serve,
    status,
    token,
)
from breakglass.cli.console import err, out
from breakglass.errors import BreakglassError
from breakglass.logs import configure_logging
from breakglass.plan.issues import PlanLoadError
from breakglass.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="breakglass",
    help="Incident response and recovery for smart-contract protocols.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(plan.app, name="plan")
app.add_typer(db.app, name="db")
app.add_typer(rules.app, name="rules")
app.command("init")(init.init_command)
app.command("backfill")(backfill.backfill_command)
app.command("monitor")(monitor.monitor_command)
app.command("pause")(respond.pause_command)
app.command("approve")(respond.approve_command)
app.command("tick")(respond.tick_command)
app.add_typer(respond.playbook_app, name="playbook")
app.add_typer(respond.safe_app, name="safe")
app.add_typer(incident.app, name="incident")
app.add_typer(notify.app, name="notify")
app.add_typer(recover.app, name="recover")
app.add_typer(news.app, name="news")
app.add_typer(regulatory.app, name="regulatory")
app.add_typer(status.app, name="status")
app.add_typer(token.app, name="token")
app.command("serve")(serve.serve_command)
app.command("demo")(demo.demo_command)
app.add_typer(drill.app, name="drill")
app.command("postmortem")(postmortem.postmortem_command)
app.add_typer(analyze.app, name="analyze")


@app.callback()
def _configure() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)


@app.command()
def version() -> None:
    """Print the breakglass version."""
    out.print(__version__)


def main() -> None:
    """Run the CLI; bad input becomes a message and exit code 2, never a traceback."""
    try:
        app()
    except PlanLoadError as exc:
        for issue in exc.issues:
            err.print(f"[red]error[/red] {escape(str(issue))}")
        if (count := len(exc.issues)) > 1:
            err.print(f"{count} problems in the plan")
        sys.exit(2)
    except BreakglassError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(2)
