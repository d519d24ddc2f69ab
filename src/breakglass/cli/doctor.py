"""``breakglass doctor``: preflight a plan against the live chain before going live."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from breakglass.cli.console import out
from breakglass.cli.options import DEFAULT_PLAN, PlanArgument
from breakglass.plan import PlanLoadError, load_plan
from breakglass.plan.checks.base import CheckStatus

if TYPE_CHECKING:
    from breakglass.doctor.report import DoctorReport

__all__ = ["doctor_command"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


_STATUS_STYLE = {
    CheckStatus.PASS: "[green]pass[/green]",
    CheckStatus.WARN: "[yellow]warn[/yellow]",
    CheckStatus.FAIL: "[red]fail[/red]",
}


def doctor_command(
    plan_file: PlanArgument = DEFAULT_PLAN,
    chain: Annotated[
        str | None, typer.Option("--chain", help="Check only this chain of the plan.")
    ] = None,
    deliver_test: Annotated[
        bool,
        typer.Option("--deliver-test", help="Send each channel a test message (not queued)."),
    ] = False,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table for people, json for tools.")
    ] = OutputFormat.TABLE,
) -> None:
    """Preflight the plan against the live chain and this machine.

    Checks variables, keys, endpoints, pause roles, Safes, pages, channels and gas. Exit 0
    when breakglass can act as the plan says (warnings allowed), 1 when a check fails, 2 when
    the plan does not load or the input is bad.
    """
    from breakglass.doctor import run_doctor  # noqa: PLC0415 - web3 is slow to import

    try:
        loaded = load_plan(plan_file)
    except PlanLoadError as exc:
        if output is OutputFormat.JSON:
            payload = {
                "plan": {"file": str(plan_file)},
                "errors": [i.as_dict() for i in exc.issues],
            }
            out.print(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode(), markup=False)
        raise
    report = run_doctor(loaded=loaded, chain=chain, deliver_test=deliver_test)
    if output is OutputFormat.JSON:
        out.print(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode(), markup=False)
    else:
        _print_table(report)
    if report.failed:
        raise typer.Exit(1)


def _print_table(report: DoctorReport) -> None:
    scope = f"  chain {escape(report.chain)}" if report.chain else ""
    out.print(f"[bold]{escape(report.protocol)}[/bold]  {escape(str(report.file))}{scope}")
    table = Table(show_lines=False, expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("subject")
    table.add_column("finding", ratio=1)
    for result in report.results:
        table.add_row(
            _STATUS_STYLE[result.status],
            result.check_id,
            escape(result.subject),
            escape(result.message),
        )
    out.print(table)
    counts = report.counts()
    out.print(
        f"{counts[CheckStatus.FAIL]} failed, {counts[CheckStatus.WARN]} warnings, "
        f"{counts[CheckStatus.PASS]} passed"
    )
    if report.failed:
        out.print(f"failing: {', '.join(report.failing_checks())} (see docs/doctor.md)")
