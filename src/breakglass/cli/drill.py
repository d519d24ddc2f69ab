"""``breakglass drill …``: scripted attack drills on a local chain, and tabletop exercises."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.listing import FormatOption, ListFormat, print_json
from breakglass.cli.options import MaybePlanOption, default_plan
from breakglass.drills.library import get_scenario, scenario_names
from breakglass.drills.service import DrillResult, run_service, tabletop_service
from breakglass.runtime.database import open_database

__all__ = ["app", "list_command", "run_command", "tabletop_command"]

app = typer.Typer(
    help="Drills: scripted attacks against the real monitor, and tabletop exercises.",
    no_args_is_help=True,
)

TemplateOption = Annotated[
    Path | None, typer.Option("--template", help="Jinja2 report template (default: shipped).")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Report file (default: <home>/drills/).")
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Where the drill is stored.")
]
ParticipantOption = Annotated[
    list[str] | None,
    typer.Option("--participant", help="'Name (role)' of a participant; repeat for more."),
]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Record the drill under this plan scenario name."),
]


def _say(line: str) -> None:
    out.print(escape(line))


def _summary(result: DrillResult) -> None:
    report = result.report
    out.print(f"\n[bold]{escape(report.title)}[/bold]: {escape(report.status)}")
    for finding in report.findings:
        out.print(f"  - {escape(finding)}")
    out.print(f"report: {escape(str(result.report_path))}  (drill #{result.drill_id})")
    out.print(f"next drill due {report.next.due.isoformat()}")


@app.command("list")
def list_command(fmt: FormatOption = ListFormat.table) -> None:
    """List the built-in drill scenarios."""
    scenarios = [get_scenario(name) for name in scenario_names()]
    if fmt is ListFormat.json:
        print_json([{"name": s.name, "title": s.title, "summary": s.summary} for s in scenarios])
        return
    for scenario in scenarios:
        out.print(f"[bold]{scenario.name}[/bold]: {escape(scenario.title)}")


@app.command("run")
def run_command(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario, see `drill list`.")],
    plan: MaybePlanOption = None,
    fork: Annotated[
        bool, typer.Option("--fork", help="Fork the plan's chain when an endpoint answers.")
    ] = False,
    template: TemplateOption = None,
    output: OutputOption = None,
    database_url: DatabaseOption = None,
    participant: ParticipantOption = None,
    record_as: AsOption = None,
    with_fix: Annotated[
        Path | None,
        typer.Option("--with-fix", help="A FIX.yaml to verify against the drill's exploit."),
    ] = None,
) -> None:
    """Attack a local chain with SCENARIO while breakglass watches, and report."""
    with open_database(database_url, migrate=True) as sessions:  # a long run: migrate
        result = run_service(
            scenario,
            plan_path=default_plan(plan),
            fork=fork,
            template=template,
            output=output,
            sessions=sessions,
            participants=participant or [],
            record_as=record_as,
            fix=with_fix,
            say=_say,
        )
    _summary(result)
    fix_verdict = result.report.measurements.get("fix_verdict")
    if with_fix is not None:
        out.print(f"fix {escape(str(result.report.measurements.get('fix_name')))}: {fix_verdict}")
        for reason in result.report.measurements.get("fix_reasons") or ():
            out.print(f"  - {escape(str(reason))}")
    if result.report.status != "contained":
        err.print("[red]the drill's attack was not contained[/red]")
        raise typer.Exit(1)
    if with_fix is not None and fix_verdict != "passed":
        err.print("[red]the fix did not pass against the drill's exploit[/red]")
        raise typer.Exit(1)


@app.command("tabletop")
def tabletop_command(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario, see `drill list`.")],
    plan: MaybePlanOption = None,
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="YAML answers per phase, for a non-interactive run."),
    ] = None,
    template: TemplateOption = None,
    output: OutputOption = None,
    database_url: DatabaseOption = None,
    participant: ParticipantOption = None,
    record_as: AsOption = None,
) -> None:
    """Walk the team through SCENARIO: discovery, gathering, analysis, action, reflection."""

    def ask(question: str) -> str:
        return str(typer.prompt(question, default="", show_default=False))

    with open_database(database_url, migrate=True) as sessions:  # an interactive session
        result = tabletop_service(
            scenario,
            plan_path=default_plan(plan),
            answers_path=answers,
            ask=ask,
            show=_say,
            template=template,
            output=output,
            sessions=sessions,
            participants=participant or [],
            record_as=record_as,
        )
    _summary(result)
