"""``breakglass analyze tx HASH``: what one transaction did, as a tree, JSON or SVG."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from breakglass.cli import analyze_incident
from breakglass.cli.console import err, out
from breakglass.plan import load_plan

__all__ = ["app", "tx_command"]

app = typer.Typer(
    help="Post-incident analysis: transactions, losses, the attacker cluster.",
    no_args_is_help=True,
)
app.command("incident")(analyze_incident.incident_command)
app.command("losses")(analyze_incident.losses_command)


class TxFormat(StrEnum):
    """Output formats of ``analyze tx``."""

    tree = "tree"
    json = "json"
    svg = "svg"


@app.command("tx")
def tx_command(
    tx_hash: Annotated[str, typer.Argument(metavar="HASH", help="The transaction hash.")],
    plan_file: Annotated[
        Path, typer.Option("--plan", "-p", metavar="PLAN", help="The plan YAML file.")
    ],
    chain: Annotated[
        str | None,
        typer.Option("--chain", help="A chain named in the plan (default: its only one)."),
    ] = None,
    fmt: Annotated[
        TxFormat, typer.Option("--format", help="tree for people, json for tools, svg fund flow.")
    ] = TxFormat.tree,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Decode HASH's call trace with the plan's ABIs, list its token and native transfers,
    net balance changes (checked against the node's prestateTracer) and flash loans.

    The chain's RPC must serve debug_traceTransaction. Exit 0 when done, 2 on bad input.
    """
    from breakglass.analysis import analyze_plan_tx  # noqa: PLC0415 - light CLI start-up
    from breakglass.analysis.render import render_svg, render_tree, to_json  # noqa: PLC0415

    loaded = load_plan(plan_file)
    analysis = asyncio.run(analyze_plan_tx(loaded, tx_hash, chain=chain))
    if fmt is TxFormat.tree:
        if out_file is None:
            out.print(render_tree(analysis))
            return
        with out_file.open("w", encoding="utf-8") as handle:
            from rich.console import Console  # noqa: PLC0415

            Console(file=handle, width=160, soft_wrap=True).print(render_tree(analysis))
    else:
        text = to_json(analysis) if fmt is TxFormat.json else render_svg(analysis)
        if out_file is None:
            sys.stdout.write(text)
            return
        out_file.write_text(text, encoding="utf-8")
    err.print(f"wrote {out_file}")
