"""Incident commands: ``breakglass incident list|show|edit|open|ack|transition|note|task|
update``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import out
from breakglass.cli.listing import FormatOption, ListFormat, print_json, table_with
from breakglass.cli.options import MaybePlanOption, PlanOption, default_plan
from breakglass.errors import BreakglassError
from breakglass.plan import load_plan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.store.models import Incident

__all__ = ["app"]

app = typer.Typer(help="Incidents: status, roles, timeline, tasks, updates.", no_args_is_help=True)

Actor = Annotated[str, typer.Option("--as", help="Who does it (a person in the plan).")]
IncidentId = Annotated[int, typer.Argument(metavar="ID", help="The incident's id.")]


@contextmanager
def _session() -> Iterator[Session]:
    """One database session in one transaction, committed on success."""
    from breakglass.runtime.database import transaction  # noqa: PLC0415 - SQLAlchemy is slow

    with transaction() as session:
        yield session


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "-"


def _date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BreakglassError(f"bad date {text!r}; use YYYY-MM-DD or an ISO datetime") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _line(incident: Incident) -> str:
    return f"incident #{incident.id} [{incident.severity}] {incident.status}: {incident.title}"


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many.")] = 50,
    fmt: FormatOption = ListFormat.table,
) -> None:
    """Incidents, newest first."""
    from breakglass.incidents import list_incidents  # noqa: PLC0415

    with _session() as session:
        incidents = list_incidents(session, status=status, limit=limit)
        if fmt is ListFormat.json:
            keys = ("id", "severity", "status", "kind", "title", "chains", "detected_at")
            print_json([{key: getattr(i, key) for key in keys} for i in incidents])
            return
        if not incidents:
            out.print("no incidents")
            return
        table = table_with(
            ("id", "severity", "status", "kind", "title", "chains", "detected"),
            title="incidents",
            title_justify="left",
        )
        for i in incidents:
            table.add_row(
                str(i.id),
                i.severity,
                i.status,
                escape(i.kind),
                escape(i.title),
                escape(", ".join(i.chains)),
                _when(i.detected_at),
            )
        out.print(table)


@app.command("show")
def show_command(
    incident_id: IncidentId,
    plan: MaybePlanOption = None,
    detail: Annotated[
        bool, typer.Option("--detail", help="Each timeline row's stored phases under it.")
    ] = False,
) -> None:
    """An incident: title and summary for people, headline figures (funds at risk, lost,
    saved; times to detect, contain, recover), milestones, roles, the timeline (one row per
    step; --detail for its phases), tasks and evidence. With a plan, amounts read in their
    tokens' units (symbol and decimals read from the chain)."""
    from breakglass.cli.incident_show import show_incident  # noqa: PLC0415

    with _session() as session:
        show_incident(session, incident_id, plan, detail=detail)


@app.command("edit")
def edit_command(
    incident_id: IncidentId,
    actor: Actor,
    title: Annotated[
        str | None, typer.Option("--title", help="The title for readers, in plain words.")
    ] = None,
    summary: Annotated[
        str | None, typer.Option("--summary", help="What happened, for readers outside the team.")
    ] = None,
) -> None:
    """Write the incident's title and summary (the incident lead only). Until then readers
    see ones generated from the records, not the alert's title and the rule's text."""
    from breakglass.incidents.service import edit_incident  # noqa: PLC0415

    with _session() as session:
        incident = edit_incident(session, incident_id, actor=actor, title=title, summary=summary)
        out.print(escape(f"{_line(incident)} (written by {actor})"))


@app.command("open")
def open_command(
    title: Annotated[str, typer.Option("--title", help="What happened, in a line.")],
    severity: Annotated[str, typer.Option("--severity", help="P1 (worst) … P5.")],
    kind: Annotated[str, typer.Option("--kind", help="e.g. exploit, oracle, governance.")],
    chain: Annotated[list[str], typer.Option("--chain", help="A chain involved.")],
    contract: Annotated[
        list[str] | None, typer.Option("--contract", help="A contract involved.")
    ] = None,
    summary: Annotated[str, typer.Option("--summary", help="More detail.")] = "",
    actor: Annotated[str, typer.Option("--as", help="Who opens it.")] = "cli",
    plan_file: PlanOption = Path("breakglass.yaml"),
) -> None:
    """Open an incident by hand; the plan's roles go to their first members."""
    from breakglass.incidents import open_incident  # noqa: PLC0415

    plan = load_plan(plan_file).plan
    with _session() as session:
        incident = open_incident(
            session,
            plan,
            title=title,
            kind=kind,
            severity=severity,
            chains=chain,
            contracts=contract or [],
            detected_at=datetime.now(UTC),
            summary=summary,
            actor=actor,
            authored=True,
        )
        out.print(escape(f"opened {_line(incident)}"))


@app.command("ack")
def ack_command(incident_id: IncidentId, actor: Actor) -> None:
    """Acknowledge an incident: someone has it."""
    from breakglass.incidents import acknowledge  # noqa: PLC0415

    with _session() as session:
        incident = acknowledge(session, incident_id, actor=actor)
        out.print(escape(f"{_line(incident)}; acknowledged {_when(incident.acknowledged_at)}"))


@app.command("transition")
def transition_command(
    incident_id: IncidentId,
    status: Annotated[str, typer.Argument(help="The next status.")],
    actor: Actor,
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
    duplicate_of: Annotated[
        int | None, typer.Option("--duplicate-of", help="The incident this one duplicates.")
    ] = None,
    plan_file: MaybePlanOption = None,
) -> None:
    """Move an incident to STATUS (detected → triaged → contained → eradicated → recovered
    → closed; or false-positive, or duplicate with --duplicate-of). A final status stops the
    incident's pages and resolves its PagerDuty incidents and Opsgenie alerts before the
    command exits; a resolve that fails stays queued for the monitor's notifier to retry."""
    import asyncio  # noqa: PLC0415

    from sqlalchemy.orm import sessionmaker  # noqa: PLC0415

    from breakglass.incidents import FINAL, allowed_next, transition  # noqa: PLC0415
    from breakglass.notify import Notifier  # noqa: PLC0415

    found = default_plan(plan_file)
    plan = load_plan(found).plan if found is not None else None
    notifier = None
    with _session() as session:
        if plan is not None:
            notifier = Notifier(plan, sessionmaker(bind=session.get_bind()))
        incident = transition(
            session,
            incident_id,
            status,
            actor=actor,
            note=note,
            duplicate_of=duplicate_of,
            notifier=notifier,
        )
        nexts = ", ".join(allowed_next(incident.status)) or "none"
        out.print(escape(f"{_line(incident)}; next: {nexts}"))
        final = incident.status in FINAL
    if final and notifier is None:
        # Without the plan nobody knows whose PagerDuty or Opsgenie to resolve: say so.
        out.print(
            "[yellow]no plan found (--plan, BREAKGLASS_PLAN or breakglass.yaml): the "
            "incident's pages were not stopped nor its PagerDuty/Opsgenie pages resolved[/]"
        )
    elif final and notifier is not None:
        sent = asyncio.run(notifier.deliver_due())
        out.print(f"delivered {sent} queued message(s); `breakglass notify log` shows the rest")


@app.command("note")
def note_command(
    incident_id: IncidentId,
    text: Annotated[str, typer.Argument(help="The note.")],
    actor: Actor,
) -> None:
    """Add a note to an incident's timeline."""
    from breakglass.incidents import add_note  # noqa: PLC0415

    with _session() as session:
        event = add_note(session, incident_id, text, actor=actor)
        out.print(f"note added to incident #{incident_id} at {_when(event.at)}")


@app.command("task")
def task_command(
    incident_id: IncidentId,
    title: Annotated[str | None, typer.Argument(help="What needs doing.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Role or person.")] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="detective, preventative or corrective.")
    ] = "corrective",
    due: Annotated[str | None, typer.Option("--due", help="Due date, YYYY-MM-DD.")] = None,
    source: Annotated[str, typer.Option("--source", help="incident or post-mortem.")] = "incident",
    done: Annotated[int | None, typer.Option("--done", help="Mark this task id done.")] = None,
    cancel: Annotated[int | None, typer.Option("--cancel", help="Cancel this task id.")] = None,
    actor: Annotated[str, typer.Option("--as", help="Who records it.")] = "cli",
) -> None:
    """Add an action item to an incident, or mark one --done (or --cancel) by its id."""
    from breakglass import incidents as inc  # noqa: PLC0415

    with _session() as session:
        inc.get_incident(session, incident_id)
        if done is not None or cancel is not None:
            task_id, status = (done, "done") if done is not None else (cancel, "cancelled")
            assert task_id is not None
            task = inc.set_task_status(session, task_id, status, actor=actor)
            out.print(escape(f"task #{task.id} {task.status}: {task.title}"))
            return
        if title is None:
            raise BreakglassError("give a TITLE to add a task, or --done TASK_ID")
        task = inc.add_task(
            session,
            incident_id,
            title,
            owner=owner,
            due_at=_date(due),
            kind=kind,
            source=source,
            actor=actor,
        )
        out.print(escape(f"task #{task.id} ({task.kind}) added to incident #{incident_id}"))


@app.command("update")
def update_command(
    incident_id: IncidentId,
    status: Annotated[str, typer.Argument(help="investigating, identified, monitoring, resolved")],
    title: Annotated[str, typer.Argument(help="The update's title.")],
    body: Annotated[str, typer.Argument(help="The update's text.")],
    actor: Actor,
    plan_file: MaybePlanOption = None,
) -> None:
    """Publish a public status update; the plan's update cadence sets when the next is due.
    It is posted to the plan's channels that take public events before the command exits;
    a delivery that fails stays queued for the monitor's notifier to retry."""
    import asyncio  # noqa: PLC0415

    from sqlalchemy.orm import sessionmaker  # noqa: PLC0415

    from breakglass.incidents import publish_update  # noqa: PLC0415
    from breakglass.notify import Notifier  # noqa: PLC0415

    found = default_plan(plan_file)
    plan = load_plan(found).plan if found is not None else None
    cadence = plan.communication.update_cadence if plan and plan.communication else None
    notifier = None
    with _session() as session:
        if plan is not None:
            notifier = Notifier(plan, sessionmaker(bind=session.get_bind()))
        update = publish_update(
            session,
            incident_id,
            status,
            title,
            body,
            actor=actor,
            cadence=cadence,
            notifier=notifier,
            plan=plan,
        )
        out.print(escape(f"published update #{update.id} ({update.status}) of #{incident_id}"))
    if notifier is not None:
        sent = asyncio.run(notifier.deliver_due())
        out.print(f"delivered {sent} queued message(s); `breakglass notify log` shows the rest")


@app.command("reminders")
def reminders_command(plan_file: PlanOption = Path("breakglass.yaml")) -> None:
    """Incidents whose public update is overdue, and who should write it."""
    from breakglass.incidents import due_reminders  # noqa: PLC0415

    plan = load_plan(plan_file).plan
    with _session() as session:
        reminders = due_reminders(session, plan, datetime.now(UTC))
    if not reminders:
        out.print("no public update is overdue")
    for r in reminders:
        who = r.person or f"someone in {r.role}"
        out.print(escape(f"#{r.incident_id} {r.title}: update overdue by {r.overdue_by}; {who}"))
