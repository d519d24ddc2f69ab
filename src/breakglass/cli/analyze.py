"""``breakglass analyze tx HASH``: what one transaction did, as a tree, JSON or SVG."""

from __future__ import annotations

import asyncio
import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from breakglass.cli import analyze_incident
from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.outputs import output_file, write_text
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
    plan_file: PlanOption = DEFAULT_PLAN,
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
    if out_file is not None:
        out_file = output_file(out_file)  # a bad --out fails before the trace is fetched
    analysis = asyncio.run(analyze_plan_tx(loaded, tx_hash, chain=chain))
    if fmt is TxFormat.tree:
        if out_file is None:
            out.print(render_tree(analysis))
            return
        from rich.console import Console  # noqa: PLC0415

        buffer = io.StringIO()
        Console(file=buffer, width=160, soft_wrap=True).print(render_tree(analysis))
        text = buffer.getvalue()
    else:
        text = to_json(analysis) if fmt is TxFormat.json else render_svg(analysis)
        if out_file is None:
            sys.stdout.write(text)
            return
    err.print(f"wrote {write_text(out_file, text)}")
