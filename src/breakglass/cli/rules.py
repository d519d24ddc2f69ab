"""``breakglass rules``: the detection rules breakglass knows."""

from __future__ import annotations

import typer
from rich.table import Table

from breakglass.cli.console import out

__all__ = ["app"]

app = typer.Typer(help="List and document detection rules.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List every built-in and plugin rule."""
    from breakglass.detect import load_plugins, registered_rules  # noqa: PLC0415 - fast start

    load_plugins()
    table = Table()
    for column in ("id", "category", "severity", "title"):
        table.add_column(column)
    for rule in sorted(registered_rules().values(), key=lambda r: (r.category, r.id)):
        table.add_row(rule.id, rule.category, rule.severity.value, rule.title)
    out.print(table)


@app.command("doc")
def doc_command() -> None:
    """Print the rule reference as Markdown (docs/rules.md)."""
    from breakglass.detect.docs import render_rules_markdown  # noqa: PLC0415

    out.print(render_rules_markdown(), markup=False, end="")
