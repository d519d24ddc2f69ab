"""Regulatory clocks: ``breakglass regulatory list|clocks|event|file``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import out
from breakglass.cli.listing import FormatOption, ListFormat, print_json, table_with
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.errors import BreakglassError
from breakglass.runtime.database import transaction

if TYPE_CHECKING:
    from breakglass.report.regulatory import Deadline

__all__ = ["app"]

app = typer.Typer(
    help="Regulatory clocks: shipped regimes, deadlines per incident, events and filings.",
    no_args_is_help=True,
)

IncidentId = Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident's id.")]
At = Annotated[
    str | None,
    typer.Option("--at", help="When, as an ISO datetime (UTC if no offset); default now."),
]
Actor = Annotated[str | None, typer.Option("--as", help="Who records it.")]


def _instant(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BreakglassError(f"bad time {text!r}; use an ISO datetime") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _span(value: timedelta | None) -> str:
    if value is None:
        return "-"
    sign, value = ("-", -value) if value < timedelta(0) else ("", value)
    minutes = int(value.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60}h {rest % 60:02d}m"
    return f"{sign}{days}d {text}" if days else f"{sign}{text}"


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _status(clock: Deadline) -> str:
    if clock.filed_at is not None:
        return f"filed {_when(clock.filed_at)}" + (" (late)" if clock.late else "")
    if clock.status == "not-started":
        return f"not-started (waits for {clock.start_event})"
    return str(clock.status)


@app.command("list")
def list_command(fmt: FormatOption = ListFormat.table) -> None:
    """The shipped regimes: id, jurisdiction, legal reference and deadlines."""
    from breakglass.report.regulatory import load_regimes  # noqa: PLC0415

    if fmt is ListFormat.json:
        print_json([regime.model_dump(mode="json") for regime in load_regimes().values()])
        return
    table = table_with(
        ("id", "name", "jurisdiction", "deadlines", "reference"),
        title="regulatory regimes",
        title_justify="left",
    )
    for regime in load_regimes().values():
        spans = []
        for d in regime.deadlines:
            span = f"{d.name}: {d.offset} {d.unit} from {d.start}"
            if d.not_later_than is not None:
                cap = d.not_later_than
                span += f" (at most {cap.offset} {cap.unit} from {cap.start})"
            spans.append(span)
        table.add_row(
            regime.id,
            escape(regime.name),
            escape(regime.jurisdiction),
            escape("\n".join(spans)),
            escape(regime.reference),
        )
    out.print(table)


@app.command("clocks")
def clocks_command(
    incident_id: IncidentId,
    plan: PlanOption = DEFAULT_PLAN,
    now: Annotated[
        str | None, typer.Option("--now", help="Evaluate at this ISO time instead of now.")
    ] = None,
    fmt: FormatOption = ListFormat.table,
) -> None:
    """The deadlines of the plan's regimes for an incident, with status and time left."""
    from breakglass.plan import load_plan  # noqa: PLC0415
    from breakglass.report.regulatory import clocks_for_incident, reminders_due  # noqa: PLC0415

    loaded = load_plan(plan)
    at = _instant(now)
    with transaction() as session:
        clocks = clocks_for_incident(session, loaded.plan, incident_id, at)
    urgent = {(c.regime, c.name) for c in reminders_due(clocks, now=at)}
    if fmt is ListFormat.json:
        print_json([_clock(c, urgent=(c.regime, c.name) in urgent) for c in clocks])
        return
    if not clocks:
        out.print("no regulatory regimes in the plan (regulatory.regimes)")
        return
    table = table_with(
        ("regime", "deadline", "due", "status", "time left"),
        ids=("regime", "deadline"),
        title=f"regulatory clocks of incident #{incident_id}",
        title_justify="left",
    )
    for clock in clocks:
        mark = " !" if (clock.regime, clock.name) in urgent else ""
        due = _when(clock.due) + (f" (capped: {clock.capped_by})" if clock.capped_by else "")
        table.add_row(
            clock.regime,
            clock.name,
            escape(due),
            escape(_status(clock) + mark),
            _span(clock.time_left),
        )
    out.print(table)


def _clock(clock: Deadline, *, urgent: bool) -> dict[str, object]:
    return {
        "regime": clock.regime,
        "deadline": clock.name,
        "recipient": clock.recipient,
        "start_event": clock.start_event,
        "started_at": clock.started_at,
        "due": clock.due,
        "capped_by": clock.capped_by,
        "status": str(clock.status),
        "time_left_seconds": clock.time_left,
        "filed_at": clock.filed_at,
        "late": clock.late,
        "urgent": urgent,
    }


@app.command("event")
def event_command(
    incident_id: IncidentId,
    event: Annotated[
        str,
        typer.Argument(help="awareness, classification-major or materiality-determination."),
    ],
    at: At = None,
    regime: Annotated[
        str | None, typer.Option("--regime", help="Only for this regime (default: all).")
    ] = None,
    actor: Actor = None,
) -> None:
    """Record when a clock-starting event happened (a later record corrects an earlier one)."""
    from breakglass.report.regulatory import record_event  # noqa: PLC0415

    when = _instant(at)
    with transaction() as session:
        record_event(session, incident_id, event, when, regime=regime, actor=actor)
    scope = f" for {regime}" if regime else ""
    out.print(f"incident #{incident_id}: {escape(event)}{escape(scope)} at {_when(when)}")


@app.command("file")
def file_command(
    incident_id: IncidentId,
    regime: Annotated[str, typer.Argument(help="The regime's id (see `regulatory list`).")],
    deadline: Annotated[str, typer.Argument(help="The deadline's name, e.g. initial.")],
    at: At = None,
    actor: Actor = None,
) -> None:
    """Record that a report was filed; the clocks that follow from it start."""
    from breakglass.report.regulatory import record_filing  # noqa: PLC0415

    when = _instant(at)
    with transaction() as session:
        record_filing(session, incident_id, regime, deadline, when, actor=actor)
    out.print(
        f"incident #{incident_id}: {escape(regime)} {escape(deadline)} filed at {_when(when)}"
    )
