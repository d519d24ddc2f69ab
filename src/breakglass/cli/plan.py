"""``breakglass plan``: check a plan against the incident-response checklist."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanArgument
from breakglass.plan import PlanLoadError, load_plan
from breakglass.plan.checks import (
    CheckSeverity,
    CheckStatus,
    PlanReport,
    check_plan,
    drills_schedule,
    render_checks_markdown,
)

__all__ = ["app"]

app = typer.Typer(help="Check the incident-response plan.", no_args_is_help=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


_STATUS_STYLE = {
    CheckStatus.PASS: "[green]pass[/green]",
    CheckStatus.WARN: "[yellow]warn[/yellow]",
    CheckStatus.FAIL: "[red]fail[/red]",
}


@app.command("check")
def check_command(
    plan_file: PlanArgument = DEFAULT_PLAN,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table for people, json for tools.")
    ] = OutputFormat.TABLE,
    fail_on: Annotated[
        CheckSeverity, typer.Option("--fail-on", help="Exit 1 when a check at this level fails.")
    ] = CheckSeverity.ERROR,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Judge review and drill dates as of YYYY-MM-DD (default: today); an example "
            "plan is written as of a fixed day.",
        ),
    ] = None,
) -> None:
    """Say what the plan lacks. Exit 0 when it passes, 1 when a check fails, 2 on bad input."""
    today = _parse_day(as_of)
    _register_detect_checks()
    lessons, drill_dates = _stored_facts()
    drills_schedule.drill_dates_provider = lambda: drill_dates  # stored drills count as run
    try:
        report = check_plan(load_plan(plan_file), today=today)
    except PlanLoadError as exc:
        if output is OutputFormat.JSON:
            payload = {
                "plan": {"file": str(plan_file)},
                "errors": [i.as_dict() for i in exc.issues],
            }
            out.print(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode(), markup=False)
        raise
    if output is OutputFormat.JSON:
        document: dict[str, object] = {**report.as_dict(), "open_lessons": lessons}
        out.print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode(), markup=False)
    else:
        _print_table(report)
        for lesson in lessons:
            err.print(
                f"[yellow]warn[/yellow] {lesson['section']}: open lesson from incident "
                f"#{lesson['incident']}: {escape(str(lesson['title']))} "
                f"(task {lesson['task']}, owner {lesson['owner'] or 'nobody'})"
            )
    if report.failed(fail_on) or (lessons and fail_on is CheckSeverity.WARNING):
        raise typer.Exit(1)


def _stored_facts() -> tuple[list[dict[str, object]], dict[str, date]]:
    """Open post-mortem lessons and the dates of stored drills, from the database when
    there is one (the plan check itself never needs one, and never creates one)."""
    from breakglass.errors import StoreError  # noqa: PLC0415
    from breakglass.settings import Settings  # noqa: PLC0415

    url = Settings().resolved_database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return [], {}
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from breakglass import store  # noqa: PLC0415
    from breakglass.drills.report import stored_drill_dates  # noqa: PLC0415
    from breakglass.report.postmortem_notes import open_plan_changes  # noqa: PLC0415

    try:
        engine = store.make_engine(url)
        try:
            sessions = store.session_factory(engine)
            with sessions() as session:
                changes = open_plan_changes(session)
            drills = stored_drill_dates(sessions)
        finally:
            engine.dispose()
    except (StoreError, SQLAlchemyError):
        return [], {}  # no database, or one from before incidents and drills: nothing to say
    lessons: list[dict[str, object]] = [
        {
            "task": c.task_id,
            "incident": c.incident_id,
            "section": c.section,
            "title": c.title,
            "owner": c.owner,
            "due": c.due_at.isoformat() if c.due_at else None,
        }
        for c in changes
    ]
    return lessons, drills


@app.command("checks-doc")
def checks_doc_command() -> None:
    """Print the reference of every plan check as Markdown (docs/plan-checks.md)."""
    _register_detect_checks()
    out.print(render_checks_markdown(), markup=False, end="")


def _register_detect_checks() -> None:
    """Register the checks of other domains; imported here, not at the top, because
    detection pulls in SQLAlchemy, which every other command would pay for at start."""
    from breakglass.detect import plancheck  # noqa: F401, PLC0415 - importing registers it
    from breakglass.notify import plancheck as _notify  # noqa: F401, PLC0415
    from breakglass.respond import plancheck as _respond  # noqa: F401, PLC0415


def _today() -> date:
    """The day reviews and drills are judged by when ``--as-of`` is not given."""
    return datetime.now(UTC).date()


def _parse_day(value: str | None) -> date:
    if value is None:
        return _today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        message = f"{value!r} is not a date like 2026-11-23"
        raise typer.BadParameter(message, param_hint="--as-of") from None


def _line_of(location: str) -> str:
    """``file:12:3`` → ``12:3``; the table's heading already names the file."""
    parts = location.rsplit(":", 2)
    return f"{parts[1]}:{parts[2]}" if len(parts) == 3 else ""


def _print_table(report: PlanReport) -> None:
    plan = report.loaded.plan
    out.print(f"[bold]{escape(plan.protocol)}[/bold]  {escape(str(report.loaded.file))}")
    table = Table(show_lines=False, expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("finding", ratio=1)
    table.add_column("line", style="dim", no_wrap=True)
    for result in report.results:
        table.add_row(
            _STATUS_STYLE[result.status],
            result.check_id,
            escape(result.message),
            _line_of(result.location) if result.status is not CheckStatus.PASS else "",
        )
    out.print(table)
    if report.coverage:
        matrix = Table(title="Scenario coverage", title_justify="left")
        for column in ("scenario", "likelihood", "detected by", "mitigated by", "drilled every"):
            matrix.add_column(column)
        for row in report.coverage:
            matrix.add_row(
                row.scenario if row.covered else f"[red]{row.scenario}[/red]",
                row.likelihood,
                ", ".join(row.detected_by) or "[red]nothing[/red]",
                ", ".join(row.mitigated_by) or "[red]nothing[/red]",
                row.drill_interval or "[yellow]never[/yellow]",
            )
        out.print(matrix)
    counts = {status: 0 for status in CheckStatus}
    for result in report.results:
        counts[result.status] += 1
    out.print(
        f"{counts[CheckStatus.FAIL]} failed, {counts[CheckStatus.WARN]} warnings, "
        f"{counts[CheckStatus.PASS]} checks passed"
    )
