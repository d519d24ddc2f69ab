"""``breakglass notify …``: the delivery log, test messages, paging and acknowledgements."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.listing import FormatOption, ListFormat, print_json, table_with
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database

if TYPE_CHECKING:
    from breakglass.notify import Notifier
    from breakglass.store.models import Delivery

__all__ = ["app"]

app = typer.Typer(help="Notification deliveries, test messages and paging.", no_args_is_help=True)

_STATUS = {"sent": "green", "pending": "cyan", "retrying": "yellow", "failed": "bold red"}


@contextmanager
def _notifier(plan_file: Path) -> Iterator[Notifier]:
    from breakglass.notify import Notifier  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database() as sessions:
        yield Notifier(loaded.plan, sessions)


def _deliver(notifier: Notifier) -> None:
    sent = asyncio.run(notifier.deliver_due())
    err.print(f"[dim]{sent} message(s) sent; see `breakglass notify log`[/dim]")


@app.command("log")
def log_command(
    status: Annotated[
        str | None, typer.Option("--status", help="Only pending, sent, retrying or failed.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Newest deliveries shown.")] = 50,
    fmt: FormatOption = ListFormat.table,
) -> None:
    """List deliveries, newest first, with their attempts and last error. Exit 1 when a
    listed delivery failed for good."""
    from sqlalchemy import select  # noqa: PLC0415

    from breakglass.store.models import Delivery  # noqa: PLC0415

    with open_database() as sessions, sessions() as session:
        query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
        if status:
            query = query.where(Delivery.status == status)
        rows = session.scalars(query).all()
    failed = any(row.status == "failed" for row in rows)
    if fmt is ListFormat.json:
        print_json([_delivery(row) for row in rows])
        if failed:
            raise typer.Exit(1)
        return
    table = table_with(
        ("id", "channel", "event", "status", "attempts", "next attempt", "title"),
        ids=("id", "channel"),
        title="deliveries",
        title_justify="left",
    )
    for row in rows:
        colour = _STATUS.get(row.status, "white")
        due = f"{row.next_attempt_at:%Y-%m-%d %H:%M:%S}" if row.next_attempt_at else ""
        note = escape(row.title)
        if row.last_error:
            note += f"\n[red]{escape(row.last_error)}[/red]"
        table.add_row(
            str(row.id),
            escape(row.channel),
            row.event,
            f"[{colour}]{row.status}[/{colour}]",
            str(row.attempts),
            due,
            note,
        )
    out.print(table)
    if failed:
        raise typer.Exit(1)


def _delivery(row: Delivery) -> dict[str, object]:
    return {
        "id": row.id,
        "channel": row.channel,
        "event": row.event,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "title": row.title,
        "last_error": row.last_error,
    }


@app.command("test")
def test_command(
    channel: Annotated[str, typer.Argument(help="A channel named in the plan.")],
    plan_file: PlanOption = DEFAULT_PLAN,
) -> None:
    """Send a test message to CHANNEL now. Exit 1 if it was not delivered."""
    with _notifier(plan_file) as notifier:
        ids = notifier.notify("test", {"channel": channel}, channels=[channel])
        # Only the test message: the backlog of other channels is the monitor's to send.
        sent = asyncio.run(notifier.deliver_due(ids=ids))
    if sent:
        out.print(f"test message delivered to {escape(channel)} (delivery {ids[0]})")
        return
    err.print(f"[red]not delivered[/red] to {escape(channel)}: see `breakglass notify log`")
    raise typer.Exit(1)


@app.command("page")
def page_command(
    role: Annotated[str, typer.Argument(help="A role named in the plan.")],
    message: Annotated[str, typer.Argument(help="What the person must do.")],
    incident: Annotated[int | None, typer.Option("--incident", help="Incident id.")] = None,
    plan_file: PlanOption = DEFAULT_PLAN,
) -> None:
    """Page ROLE: its first member now. Escalation to the next members runs in `breakglass
    monitor`, which keeps delivering and escalating."""
    with _notifier(plan_file) as notifier:
        page_id = notifier.page(role, message, incident_id=incident)
        _deliver(notifier)
    out.print(f"page {page_id} for {escape(role)}")


@app.command("ack")
def ack_command(
    page_id: Annotated[int, typer.Argument(metavar="PAGE", help="The page id.")],
    person: Annotated[str, typer.Option("--as", help="Who acknowledges (a plan person).")],
    plan_file: PlanOption = DEFAULT_PLAN,
) -> None:
    """Acknowledge page PAGE: escalation stops."""
    with _notifier(plan_file) as notifier:
        notifier.acknowledge(page_id, person)
    out.print(f"page {page_id} acknowledged by {escape(person)}")
