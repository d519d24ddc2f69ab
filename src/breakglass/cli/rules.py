"""``breakglass rules``: the detection rules breakglass knows, and replaying one for tuning."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from breakglass.cli.console import out
from breakglass.cli.listing import FormatOption, ListFormat, print_json, table_with
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan

if TYPE_CHECKING:
    from breakglass.detect.finding import Finding
    from breakglass.plan.loader import LoadedPlan

__all__ = ["app"]

app = typer.Typer(help="List, document and try detection rules.", no_args_is_help=True)


@app.command("list")
def list_command(fmt: FormatOption = ListFormat.table) -> None:
    """List every built-in and plugin rule."""
    from breakglass.detect import load_plugins, registered_rules  # noqa: PLC0415 - fast start

    load_plugins()
    rules = sorted(registered_rules().values(), key=lambda r: (r.category, r.id))
    if fmt is ListFormat.json:
        print_json(
            [
                {
                    "id": rule.id,
                    "category": rule.category,
                    "severity": rule.severity.value,
                    "confidence": rule.confidence.value,
                    "title": rule.title,
                }
                for rule in rules
            ]
        )
        return
    # Category as a heading row rather than a column, and no vertical borders: at 80
    # columns the title keeps room to read instead of folding into a narrow box.
    table = table_with(
        ("id", "severity", "title"),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    category = None
    for rule in rules:
        if rule.category != category:
            category = rule.category
            table.add_row(f"[bold]{escape(category)}[/]", "", "", end_section=False)
        table.add_row(f" {rule.id}", rule.severity.value, escape(rule.title))
    out.print(table)


@app.command("doc")
def doc_command() -> None:
    """Print the rule reference as Markdown (docs/rules.md)."""
    from breakglass.detect.docs import render_rules_markdown  # noqa: PLC0415

    out.print(render_rules_markdown(), markup=False, end="")


@app.command("test")
def test_command(
    rule_id: Annotated[str, typer.Argument(metavar="RULE", help="A rule id of the plan.")],
    tx_hash: Annotated[
        str, typer.Option("--tx", metavar="HASH", help="A mined transaction.", show_default=False)
    ],
    plan_file: PlanOption = DEFAULT_PLAN,
    chain: Annotated[
        str | None, typer.Option("--chain", help="A chain of the plan; default: the rule's.")
    ] = None,
) -> None:
    """Replay transaction HASH through RULE at its block and print what the rule finds.

    Only that rule runs, with the state read at the transaction's block. Exit 0 whether or
    not it finds anything, 2 on bad input (unknown rule or transaction, bad plan).
    """
    from breakglass.detect.replay import rule_chain  # noqa: PLC0415 - fast start

    loaded = load_plan(plan_file)
    name = chain or rule_chain(loaded, rule_id)
    findings = asyncio.run(_replay(loaded, name, rule_id, tx_hash))
    if not findings:
        out.print(f"{escape(rule_id)}: no findings for tx {escape(tx_hash)} on {escape(name)}")
        return
    out.print(_findings_table(rule_id, tx_hash, findings))


async def _replay(loaded: LoadedPlan, chain: str, rule_id: str, tx_hash: str) -> list[Finding]:
    from breakglass.cli.backfill import chain_pool  # noqa: PLC0415
    from breakglass.detect.replay import replay_tx  # noqa: PLC0415

    pool = chain_pool(loaded, chain)
    try:
        return await replay_tx(
            loaded_plan=loaded, chain=chain, rule_id=rule_id, tx_hash=tx_hash, pool=pool
        )
    finally:
        await pool.aclose()


def _findings_table(rule_id: str, tx_hash: str, findings: list[Finding]) -> Table:
    count = len(findings)
    table = Table(title=f"{rule_id}: {count} finding{'s' * (count != 1)} for tx {tx_hash}")
    for column in ("severity", "title", "block", "log", "description", "data"):
        table.add_column(column)
    for found in findings:
        data = ", ".join(f"{key}={value}" for key, value in found.data.items())
        table.add_row(
            found.severity.upper(),
            escape(found.title),
            str(found.block_number),
            "" if found.log_index is None else str(found.log_index),
            escape(found.description),
            escape(data),
        )
    return table
